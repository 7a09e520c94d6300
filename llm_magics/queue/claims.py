"""Pay once per request, however often its task is delivered.

A task can reach a worker more than once: republished after its worker's beat
lapsed (``reaper``), redelivered after the visibility timeout, or sent twice
for the same request by two submitters. ``PayOnce.run(key, call)`` makes every
copy but one read the answer instead of calling the model:

1. An answer stored under the request's hash (``keys.answer``) is returned: as
   it was to a copy of the task that paid for it (whose result may never have
   reached the submitter), as a cache hit to any other task.
2. Otherwise the copy claims the request: ``SET claim NX PX claim_ttl_s`` with
   ``"<worker id> <token>"``. The winner calls the model, renews the claim while
   the call runs (a lease, so a holder that dies lets go within
   ``claim_ttl_s``), stores a successful answer for ``answer_ttl_s``, and only
   then releases the claim; the worker acks the task after that, so a task
   whose worker dies after paying finds the answer when it comes back.
3. A copy that lost the claim polls every ``claim_poll_s`` until the answer
   appears (and returns it), the claim is released without one (an error:
   it claims and calls itself), or the holder's worker stopped beating: it
   takes the claim over at once, without waiting out the lease.

Only answers are stored, never errors: a re-run after a 5xx storm must call
again. The request's hash makes the same request share one answer, as the
cache would; with the cache turned off (``cache: false`` in the message) the
task id is added, so only copies of one task share it. If Redis fails here the
call goes ahead unguarded with a warning: losing an answer is worse than the
rare double payment this guards against.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import redis

from . import keys
from .config import QueueConfig
from .messages import as_cached

__all__ = ["PayOnce", "answer_key"]

log = logging.getLogger("llm_magics.queue.claims")

Result = dict[str, Any]

# Compare-and-act on a claim: only its holder (same token) may renew or release it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def answer_key(request_hash: str, *, use_cache: bool, task_id: str) -> str:
    """What copies share: the request (cache on), or one task's copies only (cache off)."""
    return request_hash if use_cache else f"{request_hash}:{task_id}"


class _Leases:
    """Renews the claims this process holds, from one thread (restarted after a fork)."""

    def __init__(self, client: redis.Redis, config: QueueConfig) -> None:
        self._renew = client.register_script(_RENEW)
        self._ttl_ms = int(config.claim_ttl_s * 1000)
        self._every_s = config.claim_ttl_s / 3
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pid: int | None = None

    @contextlib.contextmanager
    def holding(self, claim: str, token: str) -> Iterator[None]:
        with self._lock:
            self._held[claim] = token
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="llm-magics-claims",
                                 daemon=True).start()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(claim, None)

    def _run(self) -> None:
        while True:
            time.sleep(self._every_s)
            with self._lock:
                held = list(self._held.items())
            for claim, token in held:
                try:
                    self._renew(keys=[claim], args=[token, self._ttl_ms])
                except (redis.RedisError, OSError) as err:
                    log.warning("could not renew a claim (%s); it may lapse",
                                type(err).__name__)


class PayOnce:
    """Runs ``call`` for a request at most once among all copies of its task (see module doc)."""

    def __init__(self, redis_url: str, config: QueueConfig, owner: str | None) -> None:
        self.config = config
        self.owner = owner or keys.NO_WORKER
        self._client = redis.Redis.from_url(redis_url, socket_connect_timeout=5,
                                            socket_timeout=10)
        self._release = self._client.register_script(_RELEASE)
        self._leases = _Leases(self._client, config)

    def run(self, key: str, task_id: str, call: Callable[[], Result]) -> Result:
        try:
            while True:
                stored = self._client.get(keys.answer(key))
                if stored is not None:
                    paid = json.loads(stored)
                    return paid["result"] if paid["task"] == task_id else as_cached(
                        paid["result"])
                token = f"{self.owner} {uuid.uuid4().hex}"
                if self._client.set(keys.claim(key), token, nx=True,
                                    px=int(self.config.claim_ttl_s * 1000)):
                    break
                self._wait_turn(key)
        except (redis.RedisError, OSError) as err:
            log.warning("pay-once guard unavailable (%s): calling without it",
                        type(err).__name__)
            return call()
        return self._run_claimed(key, token, task_id, call)

    def _run_claimed(self, key: str, token: str, task_id: str,
                     call: Callable[[], Result]) -> Result:
        claim = keys.claim(key)
        try:
            with self._leases.holding(claim, token):
                result = call()
            if "response" in result:
                try:
                    self._client.set(keys.answer(key),
                                     json.dumps({"task": task_id, "result": result}),
                                     ex=int(self.config.answer_ttl_s))
                except (redis.RedisError, OSError) as err:
                    log.warning("could not store a paid answer (%s); a redelivery would "
                                "call again", type(err).__name__)
            return result
        finally:
            with contextlib.suppress(redis.RedisError, OSError):
                self._release(keys=[claim], args=[token])

    def _wait_turn(self, key: str) -> None:
        """Return once the answer is there, the claim is free, or its holder is dead."""
        claim = keys.claim(key)
        while True:
            with self._client.pipeline() as pipe:  # one snapshot: answer is set before release
                stored, holder = pipe.exists(keys.answer(key)).get(claim).execute()
            if stored or holder is None:
                return
            owner = holder.decode().split(" ", 1)[0]
            if owner != keys.NO_WORKER and not self._client.exists(keys.alive(owner)):
                log.warning("the worker holding a claim stopped beating: taking it over")
                self._release(keys=[claim], args=[holder])
                return
            time.sleep(self.config.claim_poll_s)

    def close(self) -> None:
        self._client.close()
