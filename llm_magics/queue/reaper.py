"""Republish the tasks of workers whose heartbeat lapsed now, not at the visibility timeout.

A worker that beats (``heartbeat``) registers in ``keys.WORKERS`` and lists the
delivery tags of the messages it holds. Any live process can run ``reap()``:
every worker does on each beat, and so does a submitter while it waits. For a
worker whose ``alive`` key has expired, one reaper (an ``NX`` lock) moves each
of its messages from Redis's unacked set back to the head of its priority
list, with kombu's own ``restore_by_tag``: a transaction watching the unacked
set, so a message acked meanwhile, or restored by a racing reaper, is not
published twice. The next free worker takes it.

A worker that only seemed dead (paused longer than the TTL) re-registers on
its next beat and finishes what it holds; the copy republished meanwhile is a
duplicate that ``claims`` keeps from paying twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import redis
from celery import Celery

from . import keys

__all__ = ["Reaper", "broker_channel"]

log = logging.getLogger("llm_magics.queue.reaper")

REAPING_LOCK_S = 30  # a reaper that dies mid-way leaves the rest to another after this


@contextlib.contextmanager
def broker_channel(app: Celery) -> Iterator[Any]:
    """A kombu channel on the app's broker, from its connection pool."""
    with app.pool.acquire(block=True) as connection:
        yield connection.default_channel


class Reaper:
    """Finds workers that stopped beating and hands their tasks to the others."""

    def __init__(self, app: Celery, client: redis.Redis) -> None:
        self._app = app
        self._client = client
        self._unacked_key: str | None = None

    @property
    def unacked_key(self) -> str:
        """Where the broker keeps delivered, unacknowledged messages (by delivery tag)."""
        if self._unacked_key is None:
            with broker_channel(self._app) as channel:
                self._unacked_key = str(channel.unacked_key)
        return self._unacked_key

    def lapsed(self) -> list[str]:
        """Registered workers whose ``alive`` key has expired."""
        workers = [w.decode() for w in self._client.hkeys(keys.WORKERS)]
        if not workers:
            return []
        with self._client.pipeline(transaction=False) as pipe:
            for worker in workers:
                pipe.exists(keys.alive(worker))
            found = pipe.execute()
        return [w for w, there in zip(workers, found, strict=True) if not there]

    def reap(self) -> int:
        """Republish every task held by a lapsed worker; returns how many were republished."""
        return sum(self._reap_one(worker) for worker in self.lapsed())

    def _reap_one(self, worker: str) -> int:
        if not self._client.set(keys.reaping(worker), "1", nx=True, ex=REAPING_LOCK_S):
            return 0  # another process is on it
        try:
            unacked = self.unacked_key
            restored = 0
            with broker_channel(self._app) as channel:
                for tag in self._client.smembers(keys.held(worker)):
                    if self._client.hexists(unacked, tag):
                        channel.qos.restore_by_tag(tag.decode(), self._client)
                        restored += 1
            with self._client.pipeline() as pipe:
                pipe.delete(keys.held(worker)).hdel(keys.WORKERS, worker).execute()
        finally:
            self._client.delete(keys.reaping(worker))
        if restored:
            log.warning("llm-magics worker %s stopped beating: republished the %d tasks it "
                        "held", worker, restored)
        return restored
