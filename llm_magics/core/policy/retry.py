"""The one retry policy: which errors to retry and how long to wait.

Retries only what can succeed on a second try (429, 408, 409, 5xx, timeouts,
dropped connections), never 400/401/403/404/422. Waits follow decorrelated
jitter (each one drawn between a base and three times the last, up to
``backoff_max_s``), from a base that depends on the failure: a 429 starts at
``backoff_initial_s`` (the quota needs time), a 5xx, timeout or dropped
connection at ``SERVER_RETRY_FACTOR`` of it (another attempt usually lands on
a healthy moment). A server's ``Retry-After`` wins when it is at most
``RETRY_AFTER_MAX_S`` (60 s). A longer one is not waited for: that 429 is
final. A ``deadline_s`` bounds the whole thing: a wait that would end after it
is not started, the call ends with ``DeadlineExceededError`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import tenacity
from tenacity import stop_after_attempt

from ...errors import LLMError
from ..bounds import Deadline
from ..constants import RETRY_AFTER_MAX_S, SERVER_RETRY_FACTOR
from ..settings import Settings

__all__ = ["is_retryable", "retrying", "wait_for", "honoured_retry_after"]

log = logging.getLogger("llm_magics.retry")


def honoured_retry_after(err: BaseException | None) -> float | None:
    """The server's Retry-After if it sent one llm-magics waits for (at most the cap)."""
    hint = getattr(err, "retry_after_s", None)
    return hint if hint is not None and hint <= RETRY_AFTER_MAX_S else None


def is_retryable(err: BaseException) -> bool:
    if not (isinstance(err, LLMError) and err.retryable):
        return False
    return err.retry_after_s is None or honoured_retry_after(err) is not None


class wait_by_kind(tenacity.wait.wait_base):
    """The server's Retry-After when it sent one (within the cap), else decorrelated jitter
    from the base for this kind of failure: ``uniform(base, 3 * last wait)``, capped."""

    def __init__(self, settings: Settings, rng: Callable[[], float] = random.random) -> None:
        self.initial = settings.backoff_initial_s
        self.cap = settings.backoff_max_s
        self.rng = rng

    def base_for(self, err: BaseException | None) -> float:
        if getattr(err, "status_code", None) == 429:
            return self.initial
        return self.initial * SERVER_RETRY_FACTOR

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        err = retry_state.outcome.exception() if retry_state.outcome else None
        hint = honoured_retry_after(err)
        if hint is not None:
            return hint
        base = self.base_for(err)
        last = retry_state.upcoming_sleep  # the wait before this attempt (0 after the first)
        high = max(base, 3 * last)
        return min(self.cap, base + (high - base) * self.rng())


def wait_for(settings: Settings) -> tenacity.wait.wait_base:
    return wait_by_kind(settings)


class _SleepWithin:
    """Sleeps between attempts, unless the sleep would outlast the call's deadline."""

    def __init__(self, deadline: Deadline,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.deadline = deadline
        self.sleep = sleep
        self.from_server = False

    def before_sleep(self, retry_state: tenacity.RetryCallState) -> None:
        err = retry_state.outcome.exception() if retry_state.outcome else None
        self.deadline.last = err if isinstance(err, LLMError) else None
        self.from_server = honoured_retry_after(err) is not None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.debug("retry %d after %s; waiting %.2fs", retry_state.attempt_number,
                  type(err).__name__, wait)

    async def __call__(self, seconds: float) -> None:
        left = self.deadline.remaining()
        if left is not None and seconds >= left:
            asked = " (the server's Retry-After)" if self.from_server else ""
            raise self.deadline.error(
                f"would run out during the {seconds:.1f}s wait before the next try{asked}, "
                "so the call stops now",
            ) from self.deadline.last
        await self.sleep(seconds)


def retrying(settings: Settings, deadline: Deadline | None = None, *,
             sleep: Callable[[float], Awaitable[None]] | None = None) -> tenacity.AsyncRetrying:
    """Attempts for one call; ``deadline`` defaults to ``settings.deadline_s`` from now."""
    pause = _SleepWithin(deadline if deadline is not None else Deadline(settings.deadline_s),
                         sleep or asyncio.sleep)
    return tenacity.AsyncRetrying(
        stop=stop_after_attempt(settings.max_retries + 1),
        wait=wait_for(settings),
        retry=tenacity.retry_if_exception(is_retryable),
        reraise=True,
        before_sleep=pause.before_sleep,
        sleep=pause,
    )
