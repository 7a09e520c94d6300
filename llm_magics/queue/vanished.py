"""Find queued tasks whose message vanished, so the submitter can send them again.

Kombu's Redis transport hands a message to a worker in two steps: ``BRPOP``
takes it off the queue, then the worker adds it to the unacked set. A worker
killed between the two takes the message with it: it is in no queue, in
nobody's hands, and no visibility timeout or heartbeat brings it back. The
submitter would wait for it forever.

The check is cheap and certain only while our queue is empty: then every
pending task is either in some worker's hands (the unacked set) or finished
(its result is on its way). A pending task that is neither, twice,
``grace_s`` apart, is lost; the submitter sends it again under its task id.
That is safe even if the guess were wrong: ``claims`` keeps any copy from
paying twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection

import redis
from celery import Celery
from kombu.exceptions import ChannelError

from .config import QUEUE_NAME
from .reaper import broker_channel

__all__ = ["VanishedTasks"]


def _task_id(raw: bytes) -> str | None:
    """The task id inside an unacked entry (``[message, exchange, routing_key]``)."""
    try:
        return str(json.loads(raw)[0]["headers"]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class VanishedTasks:
    """Remembers pending tasks seen nowhere, and reports those still nowhere ``grace_s`` later."""

    def __init__(self, app: Celery, client: redis.Redis, grace_s: float) -> None:
        self._app = app
        self._client = client
        self.grace_s = grace_s
        self._suspects: dict[str, float] = {}

    def check(self, pending: Collection[str]) -> list[str]:
        """Ids in ``pending`` that are lost: in no queue, in no worker's hands, no result."""
        with broker_channel(self._app) as channel:
            try:
                waiting = channel.queue_declare(queue=QUEUE_NAME, passive=True).message_count
            except ChannelError:  # no list at all: nothing is waiting
                waiting = 0
            unacked_key = channel.unacked_key
        if waiting:
            self._suspects.clear()
            return []
        held = {_task_id(raw) for raw in self._client.hvals(unacked_key)}
        now = time.monotonic()
        absent = [task_id for task_id in pending if task_id not in held]
        lost = [t for t in absent if now - self._suspects.get(t, now) >= self.grace_s]
        self._suspects = {t: self._suspects.get(t, now) for t in absent if t not in lost}
        return lost
