"""``deadline_s`` for queued rows: it bounds the wait for a worker's answer too.

(A run's ``deadline=`` ends the whole collect loop instead: ``QueueRun.deadline_at``.)

A queued row waits in Redis, then in a worker (its limiter, retries, the
call). ``deadline_s`` is the caller's bound on everything a call waits for, so
here it counts from the moment the row was queued; a row still pending when
it passes comes back as an ``APITimeoutError`` saying which bound fired, and
its task is revoked (tasks also carry it as Celery's ``expires``, so a worker
that gets one late drops it unrun). With no deadline nothing expires, and
"no worker answers" is still caught by the submitter's stall check.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Container

from .. import errors

__all__ = ["RowDeadlines", "run_deadline_error"]


class RowDeadlines:
    """When each queued row's ``deadline_s`` passes, oldest first."""

    def __init__(self, deadline_s: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline_s = deadline_s
        self._clock = clock
        self._queued: deque[tuple[float, str]] = deque()

    def queued(self, task_id: str) -> None:
        if self.deadline_s is not None:
            self._queued.append((self._clock() + self.deadline_s, task_id))

    def expired(self, pending: Container[str]) -> list[str]:
        """Task ids past their deadline that are still in ``pending``."""
        now = self._clock()
        gone: list[str] = []
        while self._queued and self._queued[0][0] <= now:
            _, task_id = self._queued.popleft()
            if task_id in pending:
                gone.append(task_id)
        return gone

    def error(self) -> errors.APITimeoutError:
        return errors.APITimeoutError(
            f"deadline_s={self.deadline_s:g} passed while this row waited for the queue's "
            "workers (queued or running). Raise deadline_s, start more workers "
            "(llm-magics worker), or check that they are running."
        )


def run_deadline_error() -> errors.DeadlineExceededError:
    """The value of a queued row still waiting when the run's ``deadline=`` passed."""
    return errors.DeadlineExceededError(
        "The run's deadline passed while this row waited for the queue's workers (queued or "
        "running); its task was revoked. Run the same call again with a later deadline= or "
        "more workers (answers that arrived are cached and not sent again).")
