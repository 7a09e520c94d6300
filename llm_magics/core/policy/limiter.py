"""Requests-per-minute and tokens-per-minute limits, shared by every call in the process.

Two token buckets (requests, tokens) refill continuously. Callers wait in one
queue ordered by priority, then arrival: only the head of the queue may take
capacity, so an interactive call goes ahead of a background fan-out waiting for
the same limiter. A 429 pauses the whole queue (everyone backs off, not only the
caller who got it) for at most ``RETRY_AFTER_MAX_S`` (the engine caps it), and
``x-ratelimit-*`` headers correct the buckets. ``snapshot()`` shows a pause and why.

The bucket holds about one second of capacity, so a fan-out starts gently and
never bursts a minute's worth of requests into a server's sliding window.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..types import PRIORITY_RANK

__all__ = ["TokenBucket", "RateLimiter", "Permit", "parse_reset"]

log = logging.getLogger("llm_magics.limiter")

BURST_SECONDS = 1.0


@dataclass
class TokenBucket:
    """``per_minute`` units refill continuously; at most ``capacity`` are banked."""

    per_minute: float
    clock: Callable[[], float] = time.monotonic
    capacity: float = field(init=False)
    level: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.capacity = max(1.0, self.per_minute / 60 * BURST_SECONDS)
        self.level = self.capacity
        self.stamp = self.clock()

    @property
    def rate(self) -> float:
        return self.per_minute / 60

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, amount: float) -> float:
        """Seconds until ``amount`` can be taken (an oversize request waits for a full bucket)."""
        self._refill()
        needed = min(amount, self.capacity) - self.level
        return 0.0 if needed <= 0 else needed / self.rate

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= amount  # may go below zero for an oversize request: repaid by refill

    @property
    def full(self) -> bool:
        self._refill()
        return self.level >= self.capacity

    def give_back(self, amount: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level + amount)

    def set_rate(self, per_minute: float) -> None:
        self._refill()
        self.per_minute = per_minute
        self.capacity = max(1.0, per_minute / 60 * BURST_SECONDS)
        self.level = min(self.level, self.capacity)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(value: str | None) -> float | None:
    """Seconds in an OpenAI reset header such as ``6m0s``, ``1.5s`` or ``120ms``."""
    if not value:
        return None
    parts = _DURATION.findall(value)
    if not parts:
        try:
            return float(value)
        except ValueError:
            return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


@dataclass
class Permit:
    """Capacity taken for one attempt; ``settle`` corrects the token estimate with real usage."""

    limiter: RateLimiter | None
    estimated_tokens: int

    def settle(self, actual_tokens: int | None) -> None:
        if self.limiter is not None and actual_tokens is not None:
            self.limiter.correct_tokens(self.estimated_tokens - actual_tokens)


class RateLimiter:
    """RPM + TPM limits with a priority queue; ``None`` for a limit means none."""

    def __init__(
        self,
        rpm: int | None = None,
        tpm: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        self.clock = clock
        self.name = name
        self.requests = TokenBucket(rpm, clock) if rpm else None
        self.tokens = TokenBucket(tpm, clock) if tpm else None
        self.paused_until = 0.0
        self.pause_reason = ""
        self.learned = False
        self._queue: list[tuple[int, int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._pump_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.waits = 0
        self.pauses = 0

    # -- configuration ---------------------------------------------------------------------
    def set_limits(self, rpm: int | None, tpm: int | None) -> None:
        """Apply configured limits; ``None`` keeps what is there (possibly learned from headers)."""
        if rpm:
            self.requests = self._updated(self.requests, rpm)
        if tpm:
            self.tokens = self._updated(self.tokens, tpm)

    def _updated(self, bucket: TokenBucket | None, per_minute: int) -> TokenBucket:
        if bucket is None:
            return TokenBucket(per_minute, self.clock)
        if bucket.per_minute != per_minute:
            bucket.set_rate(per_minute)
            self._wake.set()
        return bucket

    @property
    def active(self) -> bool:
        return bool(self.requests or self.tokens or self.paused_until > self.clock())

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def at_rest(self) -> bool:
        """Nobody waits, no pause, every bucket full: a new limiter would act the same."""
        return not self._queue and self.paused_until <= self.clock() and all(
            bucket.full for bucket in (self.requests, self.tokens) if bucket is not None)

    # -- acquiring -------------------------------------------------------------------------
    def _wait_time(self, tokens: int) -> float:
        now = self.clock()
        wait = max(0.0, self.paused_until - now)
        if self.requests:
            wait = max(wait, self.requests.wait_time(1))
        if self.tokens:
            wait = max(wait, self.tokens.wait_time(tokens))
        return wait

    def _take(self, tokens: int) -> None:
        if self.requests:
            self.requests.take(1)
        if self.tokens:
            self.tokens.take(tokens)

    async def acquire(self, tokens: int, priority: str = "bulk") -> Permit:
        """Wait for capacity for one request of about ``tokens`` tokens."""
        if not self._queue and self._wait_time(tokens) <= 0:
            self._take(tokens)
            return Permit(self, tokens)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (PRIORITY_RANK.get(priority, 2), next(self._seq), tokens,
                                     future))
        self.waits += 1
        self._ensure_pump()
        self._wake.set()
        await future  # cancelled waiters are skipped by the pump
        return Permit(self, tokens)

    def _ensure_pump(self) -> None:
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        while self._queue:
            _, _, tokens, future = self._queue[0]
            if future.done():
                heapq.heappop(self._queue)
                continue
            wait = self._wait_time(tokens)
            if wait <= 0:
                heapq.heappop(self._queue)
                self._take(tokens)
                future.set_result(None)
                continue
            self._wake.clear()
            try:  # a new head, a pause or a refund may change the wait: re-check on wake
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    # -- feedback from responses -----------------------------------------------------------
    def correct_tokens(self, surplus: int) -> None:
        """Give back what an estimate over-counted (or charge what it missed)."""
        if self.tokens and surplus:
            if surplus > 0:
                self.tokens.give_back(surplus)
            else:
                self.tokens.take(-surplus)
            self._wake.set()

    def pause(self, seconds: float, reason: str = "a 429 answer") -> None:
        """Everyone waits: called on a 429 with the server's Retry-After (capped by the caller)."""
        until = self.clock() + seconds
        if until > self.paused_until:
            self.paused_until = until
            self.pause_reason = reason
            self.pauses += 1
            log.debug("limiter %s paused for %.2fs after %s", self.name, seconds, reason)
        # Start over from an empty bucket so the queue does not burst when the pause ends.
        for bucket in (self.requests, self.tokens):
            if bucket is not None:
                bucket.take(max(0.0, bucket.level))

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Learn limits from ``x-ratelimit-*`` headers and respect an exhausted window."""
        for kind, attr in (("requests", "requests"), ("tokens", "tokens")):
            limit = headers.get(f"x-ratelimit-limit-{kind}")
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            if limit and getattr(self, attr) is None:
                try:
                    setattr(self, attr, TokenBucket(float(limit), self.clock))
                    self.learned = True
                    log.debug("limiter %s learned %s %s/min from headers", self.name, limit, kind)
                except ValueError:
                    continue
            if remaining is not None and remaining.strip() in ("0", "0.0"):
                # The reset header is the time until the window is full again; one more
                # unit frees up after a slot (60 / limit seconds), so wait only that long.
                reset = parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
                bucket = getattr(self, attr)
                slot = 60 / bucket.per_minute if bucket else None
                wait = min(x for x in (reset, slot) if x is not None) if (reset or slot) else 0
                if wait:
                    self.pause(wait, f"x-ratelimit-remaining-{kind}: 0")

    def snapshot(self) -> dict[str, object]:
        return {
            "rpm": self.requests.per_minute if self.requests else None,
            "tpm": self.tokens.per_minute if self.tokens else None,
            "queued": self.queued,
            "paused_for_s": round(max(0.0, self.paused_until - self.clock()), 3),
            "pause_reason": self.pause_reason if self.paused_until > self.clock() else None,
            "learned_from_headers": self.learned,
            "pauses": self.pauses,
        }
