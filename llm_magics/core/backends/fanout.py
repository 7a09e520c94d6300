"""What the fan-out backends share: a ``FanoutJob`` on the core's loop, over a ``RequestSet``.

A fan-out backend (in-process async, the Celery queue) only implements
``execute(requests, work, job)``: send ``requests.pending`` and report each
answer with ``requests.finish``. Everything around it is here, once: the
tracker and its display, dedupe + cache lookup, the stop marker for rows never
sent, flushing the cache however the run ends, the final state.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..engine import get_engine
from ..history.record import recorder_for
from ..jobs import FanoutJob, NotSent
from ..progress import FanoutTracker, follow, open_progress, safely
from ..requestset import Outcome, RequestSet
from ..runner import submit
from ..types import Request, Response
from . import Work

__all__ = ["FanoutBackend"]


class FanoutBackend:
    """Base of the backends that deliver one result per request as it arrives."""

    name = "fanout"
    returns_at_once = False

    async def execute(self, requests: RequestSet, work: Work, job: FanoutJob) -> None:
        raise NotImplementedError

    async def start(self, work: Work) -> FanoutJob:
        tracker = FanoutTracker(len(work.requests), stats=work.stats, title=work.title)
        job = FanoutJob(tracker, work.finalize)
        reporter = open_progress(tracker, enabled=work.progress,
                                 on_stop=job.cancel if work.background else None)
        sent = work.requests

        def on_result(i: int, outcome: Outcome | None) -> None:
            if isinstance(outcome, NotSent):  # never went out: not a finished row
                return
            if isinstance(outcome, Response) and not work.keep_raw:
                # ~3 KB of dicts per row, already serialised into the cache: a
                # 100,000-row apply would spend most of its memory on it.
                outcome.raw = None
            live = isinstance(sent[i], Request) and not getattr(outcome, "cached", False)
            tracker.record(outcome, live=live)
            if work.on_result is not None:
                work.on_result(i, outcome)

        async def run() -> list[Any]:
            job.mark_started()
            ticker = asyncio.ensure_future(follow(tracker, reporter)) if reporter else None
            state = "failed"
            requests: RequestSet | None = None
            try:
                cache = get_engine().cache_for(work.settings, work.use_cache)
                requests = RequestSet(sent, cache=cache, stats=tracker.stats,
                                      on_result=on_result,
                                      recorder=recorder_for(work.settings, "async"))
                if requests.pending:
                    await self.execute(requests, work, job)
                state = "cancelled" if job.cancel_requested else "done"
                return requests.results
            except asyncio.CancelledError:
                state = "cancelled"
                raise
            finally:
                if requests is not None:
                    requests.flush()
                if ticker is not None:
                    ticker.cancel()
                tracker.finish(state)
                if reporter is not None:
                    safely(reporter.finish, tracker.snapshot())
                work.requests = []  # a finished job need not hold 100,000 requests
                job.mark_finished()

        job.attach(submit(run()))
        return job
