"""``mode="async"``: bounded concurrent calls on the core's own event loop.

A fixed pool of workers pulls from the pending requests (no task per row), so
100,000 rows cost memory for the results, not for 100,000 coroutines. The pool
is ``concurrency`` wide, within what the endpoint can take
(``Endpoint.max_concurrency``). If the run is cancelled (kernel interrupt),
finished answers are already in the cache and a re-run sends only the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

from ... import errors
from ..deadline import missed_error, within_deadline
from ..endpoint import Endpoint
from ..engine import Engine, get_engine
from ..history.context import current, within
from ..history.record import recorder_for
from ..jobs import FanoutJob, NotSent
from ..packing import pack_size
from ..providers import resolve_endpoint
from ..requestset import Outcome, RequestSet, Sendable
from ..settings import Settings
from . import Work
from .fanout import FanoutBackend
from .packed import PackedRequests

__all__ = ["InProcessBackend", "send_pending", "send_all"]


async def send_pending(
    engine: Engine,
    requests: Sendable,
    work: Work,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Send every pending request of ``requests`` through ``engine``, ``work.concurrency`` at once.

    ``work`` says where (``endpoint``) and how (``settings``, ``use_cache``,
    ``deadline_at``); its own ``requests`` are not read here. Once
    ``should_stop()`` is true no new request goes out: calls in flight finish
    (and are cached), the rest come back at once as ``NotSent``. With a run's
    ``deadline_at`` (monotonic), each call's ``deadline_s`` ends with it, and a
    row whose turn comes after it is a ``DeadlineExceededError`` unsent. With a
    budget, each call reserves its worst case first; one that cannot fit is a
    ``BudgetExceededError`` in its rows, unsent.
    """
    endpoint, settings, deadline_at = work.endpoint, work.settings, work.deadline_at
    queue = list(requests.pending.items())
    position = 0
    budget = requests.budget

    async def worker() -> None:
        nonlocal position
        while position < len(queue):
            key, req = queue[position]
            position += 1
            # The stop is checked after the budget's wait, which can be long.
            reserved = 0.0 if budget is None else await budget.reserve(req)
            if should_stop is not None and should_stop():
                if budget is not None and reserved is not None:
                    budget.settle(reserved, req, None)  # released, nothing spent
                requests.finish(key, NotSent("Stopped before this row was sent."), counted=True)
                continue
            if budget is not None and reserved is None:
                requests.finish(key, budget.refusal(req))
                continue
            if deadline_at is not None and time.monotonic() >= deadline_at:
                if budget is not None:
                    budget.settle(reserved, req, None)  # released, nothing spent
                requests.finish(key, missed_error())
                continue
            outcome: Outcome = errors.CancelledError("Stopped while this row was sent.")
            try:
                outcome = await engine.complete(
                    req, endpoint, within_deadline(settings, deadline_at), stats=requests.stats,
                    use_cache=work.use_cache, looked_up=True,
                )
            except errors.LLMError as err:
                outcome = err
            except Exception as err:  # noqa: BLE001 - a bad row must not sink the fan-out
                requests.stats.failed += 1
                outcome = errors.LLMError(f"Unexpected {type(err).__name__}: {err}")
            finally:
                if budget is not None:
                    budget.settle(reserved, req, outcome)
            requests.finish(key, outcome, counted=True)

    width = endpoint.workers_for(work.concurrency or settings.concurrency)
    with within(mode=current().mode or "async"):  # the calls' mode in the call log
        tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, min(width, len(queue))))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def send_all(engine: Engine, work: Work, *,
                   should_stop: Callable[[], bool] | None = None) -> list[Outcome | None]:
    """Dedupe, answer from the cache, send the rest: for callers that need no job handle.

    Outcomes come back in the order of ``work.requests``; ``work.on_result`` hears each
    position as it finishes and ``work.stats`` counts them.
    """
    pending = RequestSet(work.requests, cache=engine.cache_for(work.settings, work.use_cache),
                         stats=work.stats, on_result=work.on_result,
                         recorder=recorder_for(work.settings, "async"))
    try:
        await send_pending(engine, pending, work, should_stop=should_stop)
    finally:
        pending.flush()
    return pending.results


class InProcessBackend(FanoutBackend):
    """Concurrent calls in this process, through the shared engine (limiter, breaker, retry)."""

    name = "async"
    packs_rows = True

    def endpoint_for(self, settings: Settings) -> Endpoint:
        return resolve_endpoint(settings)

    async def execute(self, requests: RequestSet, work: Work, job: FanoutJob) -> None:
        engine, stop = get_engine(), (lambda: job.cancel_requested)
        if work.pack is not None:  # packed requests first; what they leave goes alone below
            packs = PackedRequests(requests, pack_size(work.pack, requests.pending.values()))
            await send_pending(engine, packs, replace(work, use_cache=False), should_stop=stop)
        await send_pending(engine, requests, work, should_stop=stop)
