"""Time bounds of a call, enforced on the event loop whatever the HTTP transport does.

Two bounds, each named in the error it raises so the user knows what to change:

- ``timeout``: one attempt (connect, send, wait, read the answer; for a stream,
  up to its first text). Firing is an ``APITimeoutError`` and is retried.
- ``deadline_s``: everything one call waits for (attempts, backoff sleeps,
  rate-limit waits), measured from when the call starts. Firing is a
  ``DeadlineExceededError`` and ends the call.

The transport's own ``connect_timeout`` / ``read_timeout`` and the stream's
``stream_idle_timeout`` stay finer bounds inside these.

    >>> deadline = Deadline(None)
    >>> deadline.remaining() is None
    True
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .. import errors

__all__ = ["Deadline", "within", "limited", "attempt_timeout_error"]

T = TypeVar("T")

if sys.version_info >= (3, 11):
    async def limited(awaitable: Awaitable[T], seconds: float) -> T:
        async with asyncio.timeout(seconds):  # no extra task: the caller's own is cancelled
            return await awaitable
else:  # pragma: no cover - Python 3.10
    async def limited(awaitable: Awaitable[T], seconds: float) -> T:
        return await asyncio.wait_for(awaitable, seconds)


class Deadline:
    """What is left of one call's ``deadline_s``; ``None`` seconds means no deadline."""

    def __init__(self, seconds: float | None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.ends = None if seconds is None else clock() + seconds
        self.last: errors.LLMError | None = None
        """The last failed attempt (set by the retry loop): a deadline that runs out later,
        in a wait or in the next attempt, says why the call needed more tries."""

    def remaining(self) -> float | None:
        return None if self.ends is None else max(0.0, self.ends - self.clock())

    def error(self, what: str, last: errors.LLMError | None = None
              ) -> errors.DeadlineExceededError:
        """The error for a deadline that ran out (or would): ``what`` says during what."""
        last = last if last is not None else self.last
        tail = f" The last attempt failed: {last.message}" if last is not None else ""
        return errors.DeadlineExceededError(
            f"deadline_s={self.seconds:g} {what}. Raise deadline_s (or leave it unset) if "
            f"the call may take longer, or try again later.{tail}",
            status_code=last.status_code if last is not None else None,
            retry_after_s=last.retry_after_s if last is not None else None,
        )


def attempt_timeout_error(timeout: float, where: str) -> errors.APITimeoutError:
    return errors.APITimeoutError(
        f"No answer from {where} within timeout={timeout:g}s (the bound on one attempt). "
        "Raise `timeout` in llm_magics.configure() if the model is slow, or check the server."
    )


async def within(
    awaitable: Awaitable[T],
    *,
    deadline: Deadline,
    waiting_for: str,
    timeout: float | None = None,
    on_timeout: Callable[[], errors.LLMError] | None = None,
) -> T:
    """Await under the tighter of ``timeout`` and the deadline; raise the error of the one hit.

    ``on_timeout`` builds the error for ``timeout`` (it is needed when ``timeout`` is given).
    """
    left = deadline.remaining()
    by_deadline = left is not None and (timeout is None or left < timeout)
    limit = left if by_deadline else timeout
    if limit is None:
        return await awaitable
    try:
        return await limited(awaitable, limit)
    except asyncio.TimeoutError:
        if by_deadline:
            raise deadline.error(f"ran out while waiting for {waiting_for}") from None
        assert on_timeout is not None, "a timeout needs its error"
        raise on_timeout() from None
