"""What a submitter checks on each poll besides results, so no row waits for nothing.

- ``deadline``: rows past ``deadline_s`` are due (their tasks are revoked here).
- ``reaper``: tasks of workers whose heartbeat lapsed go back to the queue,
  every ``heartbeat_interval_s``, from the submitter too (so recovery does not
  depend on another worker being there to notice).
- ``vanished``: tasks lost between the queue and a killed worker are reported,
  to be sent again.

Redis trouble here is ignored: the next poll of the results reports a lost
Redis, with what to do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from .config import QueueConfig
from .deadline import RowDeadlines
from .reaper import Reaper
from .vanished import VanishedTasks

__all__ = ["RunWatch"]

_BROKER_ERRORS = (redis.RedisError, OSError, OperationalError)


class RunWatch:
    """One submission's deadlines and recovery, checked from its collect loop."""

    def __init__(self, config: QueueConfig, deadline_s: float | None) -> None:
        self.config = config
        self.deadlines = RowDeadlines(deadline_s)
        self._reaper: Reaper | None = None
        self._vanished: VanishedTasks | None = None
        self._next_check = 0.0

    async def tick(self, app: Celery, pending: Collection[str]) -> tuple[list[str], list[str]]:
        """Ids of ``pending`` rows past their deadline (revoked), and of lost tasks to resend."""
        expired = self.deadlines.expired(pending)
        if expired:
            try:
                await asyncio.to_thread(app.control.revoke, expired)
            except _BROKER_ERRORS:
                pass  # best effort: the tasks also carry deadline_s as Celery's expires
        now = time.monotonic()
        if now < self._next_check:
            return expired, []
        self._next_check = now + self.config.heartbeat_interval_s
        gone = set(expired)
        left = [task_id for task_id in pending if task_id not in gone]
        try:
            return expired, await asyncio.to_thread(self._recover, app, left)
        except _BROKER_ERRORS:
            return expired, []

    def _recover(self, app: Celery, pending: list[str]) -> list[str]:
        if self._reaper is None or self._vanished is None:
            client = app.backend.client
            self._reaper = Reaper(app, client)
            self._vanished = VanishedTasks(app, client, self.config.heartbeat_ttl_s)
        self._reaper.reap()
        if len(pending) > self.config.poll_window:
            return []  # some may have results not read yet: check once the tail is polled
        return self._vanished.check(pending)
