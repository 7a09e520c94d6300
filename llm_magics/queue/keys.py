"""Redis keys of the queue's liveness and pay-once records, named in one place.

    llm_magics:queue:workers             hash  worker id -> time of its last beat
    llm_magics:queue:alive:<worker>      str   TTL heartbeat_ttl_s: there while the worker lives
    llm_magics:queue:held:<worker>       set   delivery tags of the task messages it holds
    llm_magics:queue:reaping:<worker>    str   short lock: one process republishes a dead worker
    llm_magics:queue:claim:<request>     str   "<worker> <token>", a lease: who calls upstream
    llm_magics:queue:answer:<request>    str   the paid answer (a task result) for redeliveries

``<request>`` is the request's hash (``Request.cache_key``), so two tasks for
the same request share one claim and one answer; see ``claims`` for when the
task id is added to it.
"""

from __future__ import annotations

__all__ = ["WORKERS", "NO_WORKER", "alive", "held", "reaping", "claim", "answer"]

PREFIX = "llm_magics:queue"
WORKERS = f"{PREFIX}:workers"
#: Owner of a claim made outside a worker that beats (no heartbeat to watch).
NO_WORKER = "-"


def alive(worker: str) -> str:
    return f"{PREFIX}:alive:{worker}"


def held(worker: str) -> str:
    return f"{PREFIX}:held:{worker}"


def reaping(worker: str) -> str:
    return f"{PREFIX}:reaping:{worker}"


def claim(request: str) -> str:
    return f"{PREFIX}:claim:{request}"


def answer(request: str) -> str:
    return f"{PREFIX}:answer:{request}"
