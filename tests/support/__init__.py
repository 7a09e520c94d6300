"""What the tests, benchmarks and doc checks share; none of it ships in the package.

One job per module:

- ``env``: the checkout's root and environments for child processes that import it.
- ``threaded`` / ``process``: one of our ASGI servers in a daemon thread, or as a child
  process whose first output line announces its URL.
- ``sim``: the simulator in a thread (``Simulator``) or a process (``SimulatorProcess``),
  and ``chat_body``, the request body ``expected_answer`` needs.
- ``gateway``: the gateway in a thread (``Gateway``) or a process (``GatewayProcess``).
- ``queue_procs``: a throwaway ``redis-server`` and Celery worker processes.
- ``fixtures``: the pytest fixtures every folder gets (``shared_sim``, ``sim``).
- ``notebooks``: execute a notebook with nbclient in a real kernel, and read its cells.
- ``batch_api``: drive the Batch API (upload, create, poll, read JSONL) with the SDK.
- ``local_model``: fail, not skip, a tier whose embedded model is missing.
"""
