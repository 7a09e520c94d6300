"""What the fan-out backends share: a ``FanoutJob`` on the core's loop, over a ``RequestSet``.

A fan-out backend (in-process async, the Celery queue) only implements
``execute(requests, work, job)``: send ``requests.pending`` and report each
answer with ``requests.finish``. Everything around it is here, once: the
tracker and its display, dedupe + cache lookup, the run's budget
(``max_cost_usd``, shared by every call), the stop marker for rows never sent,
flushing the cache however the run ends, the final state.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..budget import Budget
from ..engine import get_engine
from ..history.context import tag
from ..history.record import recorder_for
from ..jobs import FanoutJob, NotSent
from ..loop_thread import submit
from ..progress import FanoutTracker, RunDisplay, open_progress
from ..requestset import Outcome, RequestSet
from ..types import Request, Response
from . import Work

__all__ = ["FanoutBackend"]


class FanoutBackend:
    """Base of the backends that deliver one result per request as it arrives."""

    name = "fanout"
    returns_at_once = False
    packs_rows = False

    async def execute(self, requests: RequestSet, work: Work, job: FanoutJob) -> None:
        raise NotImplementedError

    async def start(self, work: Work) -> FanoutJob:
        tag(mode=self.name, job_id=uuid.uuid4().hex[:12])  # the call log's mode and run id
        budget = Budget.for_run(work.settings, work.requests)  # an unpriced cap fails here
        tracker = FanoutTracker(len(work.requests), stats=work.stats, title=work.title,
                                deadline_at=work.deadline_at, budget=budget)
        job = FanoutJob(tracker, work.finalize)
        reporter = open_progress(tracker, enabled=work.progress,
                                 on_stop=job.cancel if work.background else None)
        sent = work.requests

        def on_result(i: int, outcome: Outcome | None) -> None:
            if isinstance(outcome, NotSent):  # never went out: not a finished row
                return
            if isinstance(outcome, Response) and not work.keep_raw:
                # The body's bytes, already in the cache: a 100,000-row run would
                # spend most of its memory on them.
                outcome.raw = None
            live = isinstance(sent[i], Request) and not getattr(outcome, "cached", False)
            tracker.record(outcome, live=live)
            if work.on_result is not None:
                work.on_result(i, outcome)

        async def run() -> list[Any]:
            job.mark_started()
            try:
                async with RunDisplay(tracker, reporter) as display:
                    requests: RequestSet | None = None
                    try:
                        cache = get_engine().cache_for(work.settings, work.use_cache)
                        requests = RequestSet(sent, cache=cache, stats=tracker.stats,
                                              on_result=on_result, budget=budget,
                                              recorder=recorder_for(work.settings, "async"))
                        if requests.pending:
                            await self.execute(requests, work, job)
                        display.state = "cancelled" if job.cancel_requested else "done"
                        return requests.results
                    finally:
                        if requests is not None:
                            requests.flush()
            finally:
                work.requests = []  # a finished job need not hold 100,000 requests
                job.mark_finished()

        job.attach(submit(run()))
        return job
