"""A rate limiter shared by all workers through Redis: N workers stay under one account's limits.

Each worker process's engine would otherwise meter its own calls only, and two
workers at "300 RPM" would send 600. ``RedisRateLimiter`` has the in-process
``RateLimiter``'s methods (``active``, ``acquire``, ``pause``, ``observe_headers``,
``correct_tokens``, ``set_limits``, ``snapshot``) and plugs into the engine
through its ``limiter_factory`` hook; the buckets themselves are Lua scripts
(``lua``) running atomically in Redis, one state per (base_url, model).

- ``acquire`` asks the bucket; if it must wait, it sleeps the time Redis said and
  asks again (one round trip per try; the sleep is an asyncio sleep). Waiters of
  all workers queue in Redis by priority, then arrival: interactive before bulk,
  and first come, first served within a priority.
- A 429 anywhere sets the shared ``paused_until``: every worker backs off.
- Limits are stored with the bucket. Whoever states one (``map(..., rpm=300)``
  in the notebook, or ``LLM_MAGICS_RPM`` in a worker's environment) writes it;
  a limit learned from ``x-ratelimit-*`` headers fills in only where none is set.

    >>> engine = Engine(limiter_factory=RedisLimiterFactory("redis://127.0.0.1:6379/0"))
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Coroutine, Mapping
from typing import Any

import redis
import redis.asyncio as aioredis

from ..core.endpoint import Endpoint
from ..core.policy.limiter import Permit, parse_reset
from ..core.settings import Settings
from ..core.types import PRIORITY_RANK
from . import lua

__all__ = ["RedisRateLimiter", "RedisLimiterFactory", "store_limits", "limiter_keys"]

log = logging.getLogger("llm_magics.queue.limiter")

KEY_PREFIX = "llm_magics:limit"
MAX_SLEEP_S = 5.0  # re-ask at least this often, so a limit changed elsewhere is seen


def limiter_keys(base_url: str, model: str, prefix: str = KEY_PREFIX) -> list[str]:
    """Bucket, paused_until, waiters and their deadlines, for one endpoint."""
    digest = hashlib.sha256(f"{base_url}\n{model}".encode()).hexdigest()[:16]
    tag = f"{prefix}:{{{digest}}}"
    return [f"{tag}:bucket", f"{tag}:paused_until", f"{tag}:waiters", f"{tag}:deadlines"]


def _limit_arg(value: int | None) -> str:
    return str(int(value)) if value else ""


def store_limits(redis_url: str, base_url: str, model: str, *, rpm: int | None,
                 tpm: int | None, burst_s: float = 1.0) -> None:
    """Write limits for one endpoint from a process that does not run calls (the notebook)."""
    if not rpm and not tpm:
        return
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        script = client.register_script(lua.SET_LIMITS)
        script(keys=limiter_keys(base_url, model)[:1],
               args=[burst_s, _limit_arg(rpm), _limit_arg(tpm)])
    finally:
        client.close()


class RedisRateLimiter:
    """RPM + TPM buckets for one (base_url, model), held in Redis and shared by every process."""

    def __init__(self, redis_url: str, base_url: str, model: str, *, rpm: int | None = None,
                 tpm: int | None = None, burst_s: float = 1.0) -> None:
        self.name = f"{base_url} {model}"
        self.burst_s = burst_s
        self.keys = limiter_keys(base_url, model)
        self._client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=5,
                                               socket_timeout=10)
        self._acquire = self._client.register_script(lua.ACQUIRE)
        self._pause = self._client.register_script(lua.PAUSE)
        self._correct = self._client.register_script(lua.CORRECT)
        self._set_limits = self._client.register_script(lua.SET_LIMITS)
        self._learn = self._client.register_script(lua.LEARN)
        self._background: set[asyncio.Task[Any]] = set()
        self._written: tuple[int | None, int | None] = (None, None)
        self._unsent: tuple[int | None, int | None] | None = None
        self._limits_write: asyncio.Future[Any] | None = None
        self._learned: set[str] = set()
        self.rpm, self.tpm = rpm, tpm
        self.waits = 0
        self.pauses = 0
        self.set_limits(rpm, tpm)

    # -- the engine's limiter interface ---------------------------------------------------
    @property
    def active(self) -> bool:
        """Always ask Redis: another process may have set a limit or a pause."""
        return True

    @property
    def at_rest(self) -> bool:
        """Never dropped by the engine: each holds a Redis connection pool, and a worker's
        model names come from its users' notebooks, not from anonymous clients."""
        return False

    async def acquire(self, tokens: int, priority: str = "bulk") -> Permit:
        """Wait for one request's capacity (about ``tokens`` tokens) in the shared bucket."""
        rank = PRIORITY_RANK.get(priority, max(PRIORITY_RANK.values()))
        waiter = uuid.uuid4().hex
        taken = False
        await self._limits_written()
        try:
            while True:
                wait_ms = await self._acquire(keys=self.keys,
                                              args=[self.burst_s, tokens, rank, waiter])
                if int(wait_ms) <= 0:
                    taken = True
                    return Permit(self, tokens)  # type: ignore[arg-type]
                self.waits += 1
                await asyncio.sleep(min(int(wait_ms) / 1000, MAX_SLEEP_S))
        finally:
            if not taken:  # cancelled while waiting: leave the queue, others move up
                self._spawn(self._leave(waiter))

    def pause(self, seconds: float) -> None:
        """Everyone, in every worker, waits: called on a 429 with the server's Retry-After."""
        self.pauses += 1
        log.debug("shared limiter %s paused for %.2fs after a 429", self.name, seconds)
        self._spawn(self._pause(keys=self.keys[:2], args=[self.burst_s, seconds]))

    def correct_tokens(self, surplus: int) -> None:
        if surplus:
            self._spawn(self._correct(keys=self.keys[:1], args=[self.burst_s, surplus]))

    def set_limits(self, rpm: int | None, tpm: int | None) -> None:
        """Store configured limits (``None`` keeps what Redis has); written only when changed."""
        rpm, tpm = rpm or self._written[0], tpm or self._written[1]
        if (rpm, tpm) == self._written or not (rpm or tpm):
            return
        self._written = (rpm, tpm)
        self.rpm, self.tpm = rpm, tpm
        self._unsent = (rpm, tpm)  # written by the next acquire(), before it asks for capacity

    async def _leave(self, waiter: str) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            await pipe.zrem(self.keys[2], waiter).zrem(self.keys[3], waiter).execute()

    async def _limits_written(self) -> None:
        """Every acquire waits until limits set here are in Redis (one write, shared)."""
        if self._unsent is not None:
            rpm, tpm = self._unsent
            self._unsent = None
            self._limits_write = asyncio.ensure_future(self._set_limits(
                keys=self.keys[:1], args=[self.burst_s, _limit_arg(rpm), _limit_arg(tpm)]))
        write = self._limits_write
        if write is not None:
            await asyncio.shield(write)
            if write.done() and self._limits_write is write:
                self._limits_write = None

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Learn limits from ``x-ratelimit-*`` and pause everyone on an exhausted window."""
        for kind, field in (("requests", "rpm"), ("tokens", "tpm")):
            limit = _number(headers.get(f"x-ratelimit-limit-{kind}"))
            if limit and field not in self._learned and getattr(self, field) is None:
                self._learned.add(field)
                setattr(self, field, int(limit))
                self._spawn(self._learn(keys=self.keys[:1], args=[field, int(limit)]))
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            if remaining is not None and remaining.strip() in ("0", "0.0"):
                # Like the in-process limiter: wait for one slot, not for the whole window.
                reset = parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
                per_minute = getattr(self, field)
                slot = 60 / per_minute if per_minute else None
                waits = [w for w in (reset, slot) if w]
                if waits:
                    self.pause(min(waits))

    def snapshot(self) -> dict[str, object]:
        return {"shared": "redis", "key": self.keys[0], "rpm": self.rpm, "tpm": self.tpm,
                "waits": self.waits, "pauses": self.pauses}

    # -- plumbing ---------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a write without making the sync caller wait (the engine calls these in its loop)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("shared limiter %s: a Redis update failed: %s", self.name,
                        task.exception())

    async def flush(self) -> None:
        """Wait for pending writes (tests, and before a worker exits)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def aclose(self) -> None:
        await self.flush()
        await self._client.aclose()


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class RedisLimiterFactory:
    """``Engine(limiter_factory=...)``: one shared limiter per endpoint, all in one Redis."""

    def __init__(self, redis_url: str, *, burst_s: float = 1.0) -> None:
        self.redis_url = redis_url
        self.burst_s = burst_s

    def __call__(self, endpoint: Endpoint, settings: Settings) -> RedisRateLimiter:
        return RedisRateLimiter(self.redis_url, endpoint.base_url, endpoint.model,
                                rpm=settings.rpm, tpm=settings.tpm, burst_s=self.burst_s)
