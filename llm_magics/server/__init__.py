"""OpenAI-compatible HTTP surface, shared by the simulator (``sim``) and the gateway (``gateway``).

Shared pieces, one job each: ``openai_shapes`` (wire objects, SSE framing,
error bodies), ``chat_request`` (reading and rejecting a chat body),
``error_handlers`` (every failure in OpenAI's error shape), ``auth`` (bearer
keys), ``upload_limit`` (the ``/v1/files`` size cap), ``batch_api`` (the
Files and Batches routes, records and input validation over a pluggable
backend), ``serving`` (the uvicorn server and socket both command-line
servers run on), ``connection_guard`` (header deadline and connection
limits), ``head_with_body`` (a response head and its body's start in one
send), ``private_files`` (0700/0600 state), ``constants`` (the tunable numbers).

Importing this package pulls in nothing heavy; FastAPI and uvicorn (the
``sim`` extra) load only when a submodule is imported.
"""
