"""Submitting a fan-out to the queue and collecting it back.

Same contract as the in-process backend: requests in, outcomes out in input
order, an error (or ``None``) in the input passes through, identical requests
are sent once, ``on_result(i, outcome)`` fires as each position finishes,
errors are values. Dedupe and the cache lookup are the core's
(``core.requestset``), done before anything is queued.

What differs is where the calls run. The submitting process sends only the
misses, one task each, with the Redis priority of its
``interactive``/``high``/``bulk`` priority. It
then reads finished results from the result backend (``MGET`` of the oldest
pending ids every ``poll_interval_s``), stores them in its own cache, so a
re-run pays nothing even if the workers' cache lives on another machine, and
deletes them from Redis. Cancelling (kernel interrupt, Stop) revokes every
task not finished yet: queued ones are dropped by the workers, running ones
finish and are cached.

Failing fast instead of hanging: Redis is pinged before anything is sent, a
worker must answer a ping, and if no result arrives for ``stall_check_s`` the
workers are pinged again. While it waits, the submitter also ends rows past
``deadline_s``, republishes the tasks of workers that stopped beating, and
sends again tasks lost with a killed worker (``watch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from celery import Celery
from celery import states as celery_states
from kombu.exceptions import OperationalError

from .. import errors
from ..core.call_stats import CallStats
from ..core.cost import cost_usd
from ..core.deadline import missed_error, time_left
from ..core.engine import Engine
from ..core.history.record import recorder_for
from ..core.loop_thread import sync_twin
from ..core.requestset import OnResult, Outcome, RequestSet
from ..core.settings import Settings
from ..core.signatures import parameters_of
from ..core.types import Priority, Request, Response
from .app import get_app
from .config import TASK_NAME, QueueConfig, level_for
from .deadline import run_deadline_error
from .errors import BrokerUnavailableError, NoWorkerError
from .health import check_broker, check_workers, mask_url, workers_alive
from .limiter import store_limits
from .messages import decode_result, encode_request, merge_stats
from .watch import RunWatch

__all__ = ["QueueRun", "arun_requests", "run_requests"]


class QueueRun:
    """One submission: plan (dedupe + cache), ``enqueue()`` the misses, ``await collect()``.

    ``arun_requests`` is the usual way in; the phases are separate so a caller
    can queue several runs before collecting any (that is how the priority test
    puts 10 high-priority rows behind 500 bulk ones).
    """

    def __init__(
        self,
        requests: RequestSet | Sequence[Request | errors.LLMError | None],
        settings: Settings,
        *,
        priority: Priority | None = None,
        use_cache: bool | None = None,
        stats: CallStats | None = None,
        on_result: OnResult | None = None,
        config: QueueConfig | None = None,
        app: Celery | None = None,
        should_stop: Callable[[], bool] | None = None,
        deadline_at: float | None = None,
    ) -> None:
        self.settings = settings
        self.should_stop = should_stop
        self.deadline_at = deadline_at
        """When the whole run must be done (monotonic; ``map(deadline=)``): rows still
        waiting then are revoked and come back as ``DeadlineExceededError``."""
        self.config = config or QueueConfig.from_env()
        self.app = app
        self.priority = priority
        self.use_cache = settings.cache if use_cache is None else use_cache
        if not isinstance(requests, RequestSet):  # dedupe + cache lookup, the core's one way
            requests = RequestSet(requests, cache=Engine.cache_for(settings, self.use_cache),
                                  stats=stats, on_result=on_result,
                                  recorder=recorder_for(settings, "queue"))
        self.requests = requests
        self.stats = requests.stats
        self.pending: dict[str, str] = {}  # task id -> cache key, oldest first
        self._reserved: dict[str, float] = {}  # cache key -> budget reserved, once queued
        self._refused: dict[str, None] = {}  # cache keys the budget refused, not delivered yet
        self._lock = threading.Lock()
        self._cancelled = False
        self._watch = RunWatch(self.config, settings.deadline_s)

    @property
    def results(self) -> list[Outcome | None]:
        return self.requests.results

    @property
    def to_send(self) -> int:
        """Distinct requests the cache could not answer."""
        return len(self.requests.pending)

    def _finish(self, key: str, outcome: Outcome) -> None:
        """Deliver one distinct request's outcome to every position sharing it.

        Answers from the workers are stored here too (even ones their cache gave):
        the workers' cache may be on another machine, and a re-run looks here.
        """
        with self._lock:
            reserved = self._reserved.pop(key, None)
        request = self.requests.pending.get(key)
        if request is not None and isinstance(outcome, Response) and outcome.cost_usd is None:
            # The workers may not know a price set here (the ``prices`` setting).
            outcome.cost_usd = cost_usd(request.model, outcome.usage, prices=self.settings.prices)
        budget = self.requests.budget
        if budget is not None and reserved is not None and request is not None:
            budget.settle(reserved, request, outcome)
        self.requests.finish(key, outcome, store=True)

    async def _top_up(self) -> None:
        """Under a budget: send held misses that fit now; deliver the refused ones."""
        budget = self.requests.budget
        if budget is None:
            return
        if len(self._reserved) < len(self.requests.pending) and not self._cancelled:
            await asyncio.to_thread(self._send_unqueued)
        refused, self._refused = self._refused, {}
        for key in refused:
            self.requests.finish(key, budget.refusal(self.requests.pending[key]))

    # -- sending ----------------------------------------------------------------------------
    def _get_app(self) -> Celery:
        if self.app is None:
            self.app = get_app(self.settings.redis_url, self.config)
        return self.app

    def enqueue(self) -> int:
        """Check Redis and the workers, then send one task per cache miss; returns how many."""
        if not self.requests.pending:
            return 0
        check_broker(self.settings.redis_url, self.config.connect_timeout_s)
        app = self._get_app()
        check_workers(app, self.config.ping_timeout_s)
        self._store_limits()
        return self._send_unqueued()

    def _send_unqueued(self) -> int:
        """Send the misses not queued yet, while the budget lets each reserve its worst case.

        A miss that does not fit stays held until answers free room (``collect``
        sends it then); with nothing in flight it never will, and is refused.
        """
        app = self._get_app()
        budget = self.requests.budget
        sent = 0
        try:
            with app.producer_or_acquire() as producer:
                for key, req in list(self.requests.pending.items()):
                    if self._cancelled:
                        break
                    if key in self._reserved or key in self._refused:
                        continue  # queued or refused already
                    reserved = 0.0 if budget is None else budget.try_reserve(req)
                    if reserved is None:
                        if budget is not None and budget.in_flight:
                            break
                        self._refused[key] = None
                        continue
                    with self._lock:
                        self._reserved[key] = reserved
                    task_id = self._send(app, producer, req)
                    with self._lock:
                        self.pending[task_id] = key
                    self._watch.deadlines.queued(task_id)
                    sent += 1
        except (redis.RedisError, OSError, OperationalError) as err:
            self.revoke()
            raise BrokerUnavailableError(
                f"Lost Redis at {mask_url(self.settings.redis_url)} while queueing "
                f"({type(err).__name__}); {sent} of {self.to_send} calls were queued and are "
                "now revoked. Check redis-server and run again."
            ) from None
        if self._cancelled:
            self.revoke()
        return sent

    def _send(self, app: Celery, producer: Any, req: Request, task_id: str | None = None) -> str:
        return app.send_task(TASK_NAME, args=[encode_request(req, use_cache=self.use_cache)],
                             priority=level_for(self.priority or req.priority),
                             producer=producer, task_id=task_id,
                             expires=self._expires()).id

    def _expires(self) -> float | None:
        """Seconds after which a worker drops the task unrun: ``deadline_s``, or the time
        left to the run's deadline if that is sooner."""
        bounds = [b for b in (self.settings.deadline_s, time_left(self.deadline_at))
                  if b is not None]
        return min(bounds, default=None)

    def _resend(self, task_ids: list[str]) -> None:
        """Send lost tasks again under their ids (``vanished``); a copy never pays twice."""
        app = self._get_app()
        with app.producer_or_acquire() as producer:
            for task_id in task_ids:
                key = self.pending.get(task_id)
                if key is not None and key in self.requests.pending:
                    self._send(app, producer, self.requests.pending[key], task_id)

    def _store_limits(self) -> None:
        """Limits stated here (``rpm=``/``tpm=``) become the shared bucket's limits."""
        if not (self.settings.rpm or self.settings.tpm):
            return
        for endpoint in {(r.base_url, r.model) for r in self.requests.pending.values()}:
            store_limits(self.settings.redis_url, *endpoint, rpm=self.settings.rpm,
                         tpm=self.settings.tpm, burst_s=self.config.burst_s)

    def stop(self) -> None:
        """Graceful stop: revoke what is pending; those rows come back as ``CancelledError``.

        Tasks a worker already runs finish there and land in its cache, so a
        re-run gets them free.
        """
        self._end_waiting(errors.CancelledError("Stopped before a worker ran this row."),
                          errors.CancelledError("Stopped before this row was sent."))

    def _end_waiting(self, queued: errors.LLMError, held: errors.LLMError) -> None:
        """Revoke every pending task, its rows get ``queued``; rows the budget held back
        (never queued) get ``held``."""
        self.revoke()
        with self._lock:
            keys = list(self.pending.values())
            self.pending.clear()
        for key in keys:
            self._finish(key, queued)
        for key in list(self.requests.pending):  # held back by the budget, never queued
            self._finish(key, held)

    def revoke(self) -> int:
        """Revoke every task not collected yet; returns how many."""
        self._cancelled = True
        with self._lock:
            ids = list(self.pending)
        if ids and self.app is not None:
            try:
                self.app.control.revoke(ids)
            except Exception:  # noqa: BLE001 - best effort on the way out (Redis may be gone)
                return 0
        return len(ids)

    # -- collecting -------------------------------------------------------------------------
    def _poll(self, ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
        """One pass over the backend: finished results among ``ids``, deleted once read."""
        backend = self._get_app().backend
        try:
            done = list(backend.get_many(ids, interval=0, max_iterations=1))
            if done:
                with backend.client.pipeline(transaction=False) as pipe:
                    for task_id, _ in done:
                        pipe.delete(backend.get_key_for_task(task_id))
                    pipe.execute()
        except (redis.RedisError, OSError) as err:
            raise BrokerUnavailableError(
                f"Lost Redis at {mask_url(self.settings.redis_url)} while waiting for results "
                f"({type(err).__name__}). Check redis-server and run again: finished rows "
                "come from the cache."
            ) from None
        return done

    def _outcome(self, meta: dict[str, Any]) -> Outcome:
        status = meta.get("status")
        if status == celery_states.SUCCESS:
            outcome, worker_stats = decode_result(meta.get("result"))
            merge_stats(self.stats, worker_stats)
            return outcome
        if status == celery_states.REVOKED:
            return errors.CancelledError("The call was revoked before a worker ran it.")
        return errors.LLMError(f"The worker failed to run the call ({status}): "
                               f"{meta.get('result')!s:.200}")

    async def collect(self) -> list[Outcome | None]:
        """Wait for every queued task; outcomes land in ``results`` (and ``on_result``)."""
        last_progress = time.monotonic()
        await self._top_up()
        while self.pending:
            if self.should_stop is not None and self.should_stop():
                await asyncio.to_thread(self.stop)
                break
            if self.deadline_at is not None and time.monotonic() >= self.deadline_at:
                await asyncio.to_thread(self._end_waiting, run_deadline_error(), missed_error())
                break
            with self._lock:
                window = list(self.pending)[: self.config.poll_window]
            done = await asyncio.to_thread(self._poll, window)
            for task_id, meta in done:
                with self._lock:
                    key = self.pending.pop(task_id, None)
                if key is not None:
                    self._finish(key, self._outcome(meta))
            await self._watch_tick()
            await self._top_up()
            now = time.monotonic()
            if done:
                last_progress = now
            elif now - last_progress > self.config.stall_check_s:
                await self._check_still_served()
                last_progress = time.monotonic()
            if self.pending:
                await asyncio.sleep(self.config.poll_interval_s)
        self.flush()
        return self.results

    async def _watch_tick(self) -> None:
        """Rows past ``deadline_s`` time out; lost tasks are sent again (see ``watch``)."""
        with self._lock:
            pending = list(self.pending)
        expired, lost = await self._watch.tick(self._get_app(), pending)
        for task_id in expired:
            with self._lock:
                key = self.pending.pop(task_id, None)
            if key is not None:
                self._finish(key, self._watch.deadlines.error())
        if lost:
            with contextlib.suppress(redis.RedisError, OSError, OperationalError):
                await asyncio.to_thread(self._resend, lost)  # a lost Redis shows at the next poll

    def flush(self) -> None:
        """Commit the answers collected so far to this process's cache."""
        self.requests.flush()

    async def _check_still_served(self) -> None:
        alive = await asyncio.to_thread(workers_alive, self._get_app(),
                                        self.config.ping_timeout_s)
        if alive:
            return
        left = len(self.pending)
        await asyncio.to_thread(self.revoke)
        raise NoWorkerError(
            f"No llm-magics worker has answered for {self.config.stall_check_s:g}s and "
            f"{left} calls were still queued (now revoked): start one with: llm-magics "
            "worker, then run again (finished rows come from the cache)."
        )


@parameters_of(QueueRun)
async def arun_requests(run: QueueRun) -> list[Outcome | None]:
    """Run ``requests`` on the queue's workers, with the contract of the module docstring.

    Requests carry their base URL and model; the key stays with the workers.
    ``priority`` overrides each request's own. ``should_stop()`` is checked on every
    poll; once true, pending rows are revoked and come back as ``CancelledError``.
    """
    if not run.to_send:
        return run.results
    try:
        await asyncio.to_thread(run.enqueue)
        return await run.collect()
    except BaseException:
        run.revoke()  # cancelled or failed: nothing not yet started should still run
        raise
    finally:
        run.flush()


run_requests = sync_twin(arun_requests, name="run_requests", doc=(
    "Blocking ``arun_requests`` (on the core's background loop; works in a notebook cell)."))
