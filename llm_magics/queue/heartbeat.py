"""A worker's pulse in Redis: "I am alive, and these are the tasks I hold".

Started by ``llm-magics worker`` (``install``): a thread in the worker's main
process that, every ``heartbeat_interval_s``,

- sets ``alive:<id>`` with a ``heartbeat_ttl_s`` TTL and registers the id,
- keeps the set of delivery tags of the messages this worker holds: each tag is
  added the moment Celery's ``task_received`` signal fires (in the main process,
  for every pool), so a task taken just before a crash is not missed, and each
  beat drops the tags the broker no longer lists as unacked,
- runs the ``Reaper``: the tasks of any worker whose beat lapsed go back to the
  queue now, not at the visibility timeout.

So a SIGKILLed worker's rows run again a few seconds after its last beat.
A thread, not the consumer's event loop: a long task or a busy loop must not
make a live worker look dead. Prefork children inherit ``worker_id()`` so the
claims they make name the worker whose beat proves them alive.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

import redis
from celery import Celery, signals

from . import keys
from .config import QueueConfig
from .reaper import Reaper

__all__ = ["Heartbeat", "worker_id"]

log = logging.getLogger("llm_magics.queue.heartbeat")

_current: Heartbeat | None = None


def worker_id() -> str | None:
    """The id this process's worker beats under (``None`` outside ``llm-magics worker``)."""
    return _current.id if _current is not None else None


class Heartbeat:
    """Publishes one worker's liveness and holdings; reaps dead workers on each beat."""

    def __init__(self, app: Celery, config: QueueConfig) -> None:
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.config = config
        self._client = redis.Redis.from_url(
            app.conf.broker_url, socket_connect_timeout=config.connect_timeout_s,
            socket_timeout=max(config.connect_timeout_s, config.heartbeat_ttl_s / 2))
        self._reaper = Reaper(app, self._client)
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        # The holdings outlive the beat so a reaper can read them; after the visibility
        # timeout Celery redelivers the tasks anyway.
        self._held_ttl_s = int(max(config.visibility_timeout_s, config.heartbeat_ttl_s * 10))

    # -- Celery hooks -----------------------------------------------------------------------
    def install(self) -> Heartbeat:
        """Hook into this process's Celery worker: start when ready, stop at shutdown."""
        global _current
        _current = self
        signals.task_received.connect(self._on_received, weak=False)
        signals.worker_ready.connect(self._on_ready, weak=False)
        signals.worker_shutdown.connect(self._on_shutdown, weak=False)
        return self

    def _on_received(self, request: Any = None, **_: Any) -> None:
        tag = getattr(getattr(request, "message", None), "delivery_tag", None)
        if tag:
            self.hold(str(tag))

    def _on_ready(self, **_: Any) -> None:
        self.start()

    def _on_shutdown(self, **_: Any) -> None:
        self.stop()

    # -- the pulse --------------------------------------------------------------------------
    def hold(self, delivery_tag: str) -> None:
        """Record a received task at once (the next beat retries if Redis is unreachable)."""
        with self._lock:
            self._held.add(delivery_tag)
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.sadd(keys.held(self.id), delivery_tag)
                pipe.expire(keys.held(self.id), self._held_ttl_s)
                pipe.execute()
        except (redis.RedisError, OSError) as err:
            log.warning("llm-magics heartbeat could not record a task (%s); the next beat "
                        "will", type(err).__name__)

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def beat(self) -> None:
        """One beat: say alive, drop finished tags, re-add the rest (idempotent)."""
        held = sorted(self.held())
        done: set[str] = set()
        if held:
            unacked = self._reaper.unacked_key
            with self._client.pipeline(transaction=False) as pipe:
                for tag in held:
                    pipe.hexists(unacked, tag)
                still = pipe.execute()
            done = {tag for tag, there in zip(held, still, strict=True) if not there}
            with self._lock:
                self._held -= done
        held = [tag for tag in held if tag not in done]
        with self._client.pipeline() as pipe:
            pipe.set(keys.alive(self.id), "1", px=int(self.config.heartbeat_ttl_s * 1000))
            pipe.hset(keys.WORKERS, self.id, str(time.time()))
            if done:  # never a DEL + rewrite: a tag added by hold() meanwhile must stay
                pipe.srem(keys.held(self.id), *done)
            if held:
                pipe.sadd(keys.held(self.id), *held)
                pipe.expire(keys.held(self.id), self._held_ttl_s)
            pipe.execute()

    def _run(self) -> None:
        while True:
            try:
                self.beat()
                self._reaper.reap()
            except (redis.RedisError, OSError) as err:
                log.warning("llm-magics heartbeat could not reach Redis (%s); retrying",
                            type(err).__name__)
            if self._stopped.wait(self.config.heartbeat_interval_s):
                return

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="llm-magics-heartbeat",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop beating and leave the registry: a clean exit is not a death to reap."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.heartbeat_ttl_s)
            self._thread = None
        try:
            with self._client.pipeline() as pipe:
                pipe.delete(keys.alive(self.id), keys.held(self.id))
                pipe.hdel(keys.WORKERS, self.id)
                pipe.execute()
        except (redis.RedisError, OSError):
            pass  # the keys expire on their own
        self._client.close()
