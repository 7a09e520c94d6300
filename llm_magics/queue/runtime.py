"""What a worker process holds: its own settings and key, an engine on the shared limiter.

A worker resolves settings from **its own** environment (``OPENAI_API_KEY`` /
``LLM_MAGICS_API_KEY``, ``OPENAI_BASE_URL``, ``LLM_MAGICS_*``), never from the
message, and sends its key only to the base URL it was started for: a message
naming another URL is refused (start one worker per upstream). So the key is
never in Redis, and nobody who can write to Redis can make a worker send its
key elsewhere.

Calls run on the core's background event loop (``core.loop_thread.run_sync``): a worker
process has no notebook loop, and every pool thread shares that one loop, its
connection pool and the engine. The cache is on (unless a message says
``cache: false``) and flushed after each task; across machines, ``claims``
keeps every copy of a task but one from calling the model, and stores the
answer in Redis before the task is acked, so a task delivered again after its
worker died finds the answer it already paid for.

The circuit breaker is **not** shared through Redis, unlike the limiter, on
purpose. A rate limit belongs to the account: N workers each metering their
own calls would send N times the limit, so the bucket must be shared. A
breaker measures how an endpoint answers *this* worker: a worker behind a bad
proxy or DNS must not make healthy workers on other machines fail fast, and a
per-worker breaker still opens after ``breaker_threshold`` failures, a few
seconds into an outage at any useful concurrency. Sharing it would also add a
Redis round trip to every call and make Redis trouble look like endpoint
trouble. So each worker process keeps its own, like a notebook does.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

from .. import errors
from ..core.call_stats import CallStats
from ..core.endpoint import Endpoint
from ..core.engine import Engine
from ..core.loop_thread import run_sync
from ..core.providers import resolve_endpoint
from ..core.secrets import redact
from ..core.settings import Settings, resolve
from ..core.types import Priority, Request
from .claims import PayOnce, answer_key
from .config import QueueConfig
from .heartbeat import worker_id
from .limiter import RedisLimiterFactory
from .messages import decode_request, encode_error, encode_response

__all__ = ["WorkerRuntime", "get_runtime"]

log = logging.getLogger("llm_magics.queue.worker")


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class WorkerRuntime:
    """Runs task messages through one engine whose limiter is shared through Redis."""

    def __init__(self, redis_url: str, settings: Settings | None = None,
                 config: QueueConfig | None = None) -> None:
        config = config or QueueConfig.from_env()
        # The process that queued a call records it (with its cell and job): not the worker too.
        self.settings = (settings or resolve()).model_copy(update={"history": False})
        self.engine = Engine(limiter_factory=RedisLimiterFactory(redis_url,
                                                                 burst_s=config.burst_s))
        self.pay_once = PayOnce(redis_url, config, worker_id())
        self._endpoint: Endpoint | errors.LLMError | None = None
        self._lock = threading.Lock()

    def endpoint(self) -> Endpoint:
        """The worker's upstream and key, resolved once (may start the embedded local model)."""
        with self._lock:
            if self._endpoint is None:
                try:
                    self._endpoint = resolve_endpoint(self.settings)
                except errors.LLMError as err:
                    self._endpoint = err
        if isinstance(self._endpoint, errors.LLMError):
            raise self._endpoint
        return self._endpoint

    def execute(self, message: dict[str, Any], *, priority: Priority = "bulk",
                task_id: str = "") -> dict[str, Any]:
        """Outcome of one task message, as JSON; errors are values here too.

        Every copy of the task (``task_id``) runs through ``PayOnce``: at most one
        of them calls the model, the others return its stored answer.
        """
        try:
            request, use_cache = decode_request(message, priority)
        except errors.LLMError as err:
            return encode_error(err, CallStats())
        key = answer_key(request.cache_key(), use_cache=use_cache, task_id=task_id)
        return self.pay_once.run(key, task_id, lambda: self._call(request, use_cache))

    def _call(self, request: Request, use_cache: bool) -> dict[str, Any]:
        stats = CallStats()
        try:
            own = self.endpoint()
            if not _same_url(request.base_url, own.base_url):
                raise errors.ConfigurationError(
                    f"This worker sends calls to {own.base_url}, not {request.base_url}: start "
                    f"a worker for it with OPENAI_BASE_URL={request.base_url} llm-magics worker."
                )
            endpoint = replace(own, base_url=request.base_url, model=request.model)
            response = run_sync(self.engine.complete(request, endpoint, self.settings,
                                                     stats=stats, use_cache=use_cache))
        except errors.LLMError as err:
            return encode_error(err, stats)
        except Exception as err:  # noqa: BLE001 - a bad task must come back as a value
            detail = self._scrub(f"{type(err).__name__}: {err}")
            log.error("llm-magics task failed unexpectedly: %s", detail)
            return encode_error(errors.LLMError(f"The worker failed: {detail}"), stats)
        finally:
            cache = self.engine.cache_for(self.settings, None)
            if cache is not None:
                cache.flush()
        return encode_response(response, stats)

    def _scrub(self, text: str) -> str:
        """Unexpected errors are shown and logged: make sure no key or URL password is in them."""
        key = self._endpoint.api_key if isinstance(self._endpoint, Endpoint) else None
        return redact(text, key)


_runtimes: dict[str, WorkerRuntime] = {}
_runtimes_lock = threading.Lock()


def get_runtime(redis_url: str) -> WorkerRuntime:
    """This process's runtime (built on the first task, so a forked pool child builds its own)."""
    with _runtimes_lock:
        runtime = _runtimes.get(redis_url)
        if runtime is None:
            runtime = _runtimes[redis_url] = WorkerRuntime(redis_url)
        return runtime
