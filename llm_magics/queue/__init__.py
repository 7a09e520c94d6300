"""Distributed queue: Celery tasks on Redis, priorities, and one rate limit for every worker.

The ``queue`` extra (``pip install "llm-exec-magics[queue]"``). Start Redis and
at least one worker, then send a fan-out to them::

    $ redis-server
    $ OPENAI_API_KEY=sk-... llm-magics worker --concurrency 16

    >>> from llm_magics import queue
    >>> answers = queue.map(prompts, model="gpt-4o-mini", rpm=500)   # doctest: +SKIP

Priorities map to Redis priority levels, where **0 is the highest**:

=============  =====  =============================================
priority       level  used by
=============  =====  =============================================
interactive    0      magics: a person is waiting
high           3      urgent fan-outs
bulk           9      default for fan-outs and DataFrame applies
=============  =====  =============================================

Workers fetch level 0 before 3 before 9, and hold only as many tasks as they
run (prefetch 1), so a high-priority row submitted behind thousands of bulk
rows is the next one a free worker takes.

A worker that dies is noticed within seconds (``heartbeat``, ``reaper``) and a
task delivered again never pays twice (``claims``).

Modules: ``config`` (priorities, timeouts), ``app`` (Celery settings), ``tasks``
and ``runtime`` (the worker side), ``limiter`` + ``lua`` (the shared Redis token
bucket), ``heartbeat`` + ``reaper`` (dead workers' tasks run again at once),
``claims`` (pay once per request), ``keys`` (their Redis keys), ``submit``
(enqueue, collect, revoke), ``watch`` (what the submitter checks while it
waits: ``deadline`` for ``deadline_s``, ``reaper``, ``vanished`` for tasks lost
with a killed worker),
``api`` (``map``/``amap``), ``health`` (fast errors), ``worker``
(``llm-magics worker``), ``backend`` (``mode="queue"`` for the core's
registry).
"""

from __future__ import annotations

from .api import amap, map
from .app import get_app, make_app
from .config import PRIORITY_LEVELS, QueueConfig
from .errors import BrokerUnavailableError, NoWorkerError, QueueError
from .health import check_broker, check_workers
from .limiter import RedisLimiterFactory, RedisRateLimiter, store_limits
from .submit import QueueRun, arun_requests, run_requests

__all__ = [
    "map",
    "amap",
    "run_requests",
    "arun_requests",
    "QueueRun",
    "QueueConfig",
    "PRIORITY_LEVELS",
    "make_app",
    "get_app",
    "check_broker",
    "check_workers",
    "RedisRateLimiter",
    "RedisLimiterFactory",
    "store_limits",
    "QueueError",
    "BrokerUnavailableError",
    "NoWorkerError",
]
