"""``mode="batch"`` with a deadline: a batch that is watched, and given up on in time.

The Batch API promises answers within 24 h; a deadline is a promise to the
user. So the batch is submitted as usual (half price, in the job store) and a
watcher on the core's loop polls it. The rest must be sent async if the batch
is not complete by *the deadline minus the time the unanswered rows need at the
rate limits* (``core.planner.fallback_reserve``), or if it ends without all
its answers (expired, cancelled, failed): then the batch is cancelled, its
partial output downloaded (the server returns what it already answered), and
only the rows without an answer are sent async, each call bounded by the
deadline. Every answer the batch produced is kept and none is sent twice.

The handle is a ``FanoutJob``: its progress (tqdm, or the widget in a kernel)
shows the time left and the switch; the batch itself stays in the job store,
so ``%llm_batch status`` shows it cancelled or expired with what it answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ... import errors
from ..batch.constants import METADATA_DEADLINE_KEY
from ..batch.job import BatchJob
from ..batch.poll import poll_delays
from ..batch.submit import asubmit_requests
from ..batch.summary import JobSummary
from ..constants import DEADLINE_POLL_MAX_S, SWITCH_GRACE_S
from ..deadline import time_left
from ..engine import get_engine
from ..jobs import FanoutJob, NotSent
from ..loop_thread import submit
from ..planner import async_seconds, fallback_reserve
from ..progress import FanoutTracker, RunDisplay, format_duration, open_progress
from ..types import Request, Response
from . import Work
from .auto import plan_work, rates_for
from .inprocess import send_all

__all__ = ["start_watched_batch"]

log = logging.getLogger("llm_magics.batch")

_CANCEL_CHECK_S = 1.0
"""Between two polls, how often the watcher looks at its handle's Stop (no request made)."""


async def start_watched_batch(work: Work) -> FanoutJob:
    """Submit ``work`` as a batch and watch it against ``work.deadline_at``; returns at once."""
    plan = await asyncio.to_thread(plan_work, work, "batch")
    calls = plan.calls
    per_call = plan.tokens / calls if calls else 0.0
    ends = time.time() + (time_left(work.deadline_at) or 0.0)
    batch = await asubmit_requests(
        work.requests, work.endpoint, work.settings, use_cache=work.use_cache,
        index_labels=work.index_labels,
        metadata={**work.metadata, METADATA_DEADLINE_KEY: f"{ends:.0f}"})
    tracker = FanoutTracker(len(work.requests), stats=work.stats, title=work.title,
                            deadline_at=work.deadline_at)
    tracker.note = f"batch {batch.id}"
    job = FanoutJob(tracker, work.finalize)
    job.plan = plan
    job.batch = batch
    reporter = open_progress(tracker, enabled=work.progress,
                             on_stop=job.cancel if work.background else None)
    requests = work.requests
    work.requests = []  # the watcher holds them now, and lets go when it finishes

    def reserve(pending: int) -> float:
        return fallback_reserve(async_seconds(pending, per_call, rates_for(work))[0])

    async def run() -> list[Any]:
        job.mark_started()
        try:
            async with RunDisplay(tracker, reporter) as display:
                summary = await _watch(batch, work.deadline_at, reserve, job)
                outcomes = await _collect(batch, summary, requests, tracker)
                resend = _unanswered(requests, outcomes)
                if resend and job.cancel_requested:
                    for i in resend:
                        outcomes[i] = NotSent("Stopped before this row was sent.")
                elif resend:
                    tracker.note = _switch_note(batch, summary, len(resend))
                    await _send_rest(work, requests, resend, outcomes, tracker, job)
                display.state = "cancelled" if job.cancel_requested else "done"
                return outcomes
        except asyncio.CancelledError:  # a hard stop: the batch is cancelled too, unwatched
            asyncio.ensure_future(_cancel_quietly(batch))
            raise
        finally:
            job.mark_finished()

    job.attach(submit(run()))
    return job


async def _watch(batch: BatchJob, deadline_at: float | None,
                 reserve: Callable[[int], float], job: FanoutJob) -> JobSummary:
    """Poll until the batch ends, or cancel it when waiting longer would miss the deadline."""
    delays = poll_delays(None, cap=DEADLINE_POLL_MAX_S)
    while True:
        summary = await batch.astatus()
        if summary.done:
            return summary
        switch_in = (float("inf") if deadline_at is None
                     else deadline_at - reserve(summary.pending) - time.monotonic())
        if switch_in <= 0 or job.cancel_requested:
            return await _give_up(batch)
        await _sleep_unless_stopped(job, min(next(delays), switch_in))


async def _sleep_unless_stopped(job: FanoutJob, seconds: float) -> None:
    ends = time.monotonic() + seconds
    while not job.cancel_requested and (left := ends - time.monotonic()) > 0:
        await asyncio.sleep(min(left, _CANCEL_CHECK_S))


async def _cancel_quietly(batch: BatchJob) -> None:
    try:
        await batch.acancel()
    except errors.LLMError as err:
        log.warning("batch job %s was stopped but could not be cancelled (%s); "
                    "llm_magics.batch.get_job(%r).cancel() tries again", batch.id,
                    err.message, batch.id)


async def _give_up(batch: BatchJob) -> JobSummary:
    """Cancel the batch and wait (a bounded time) for the server to hand back its output."""
    ends = time.monotonic() + SWITCH_GRACE_S
    summary = await batch.acancel()
    delays = poll_delays(None, initial=0.25, cap=2.0)
    while not summary.done and time.monotonic() < ends:
        await asyncio.sleep(min(next(delays), max(ends - time.monotonic(), 0.0)))
        summary = await batch.astatus()
    return summary


async def _collect(batch: BatchJob, summary: JobSummary, requests: list[Any],
                   tracker: FanoutTracker) -> list[Any]:
    """The batch's outcome per row (what it answered), or the requests if it never ended."""
    outcomes = await batch.aoutcomes() if summary.done else list(requests)
    for outcome in outcomes:
        if isinstance(outcome, Request) or _not_run(outcome):
            continue
        if isinstance(outcome, Response):
            tracker.stats.add_response(outcome)
        tracker.record(outcome, live=isinstance(outcome, Response) and not outcome.cached)
    return outcomes


def _not_run(outcome: Any) -> bool:
    """An error that says the batch never ran the row (cancelled, expired, not submitted)."""
    return isinstance(outcome, errors.LLMError) and (
        outcome.retryable or isinstance(outcome, errors.CancelledError)
        or type(outcome) is errors.LLMError)


def _unanswered(requests: list[Any], outcomes: list[Any]) -> list[int]:
    return [i for i, (req, out) in enumerate(zip(requests, outcomes, strict=True))
            if isinstance(req, Request) and (isinstance(out, Request) or _not_run(out))]


def _switch_note(batch: BatchJob, summary: JobSummary, rows: int) -> str:
    how = {"cancelled": "cancelled for the deadline",
           "cancelling": "still cancelling"}.get(summary.state, summary.state)
    return (f"batch {batch.id} {how} after {summary.completed:,}/{summary.total:,} answers "
            f"({format_duration(summary.elapsed_s)}): {rows:,} rows sent async")


async def _send_rest(work: Work, requests: list[Any], resend: list[int], outcomes: list[Any],
                     tracker: FanoutTracker, job: FanoutJob) -> None:
    """Send only the rows the batch left unanswered; each lands in its slot as it arrives."""
    wanted = set(resend)

    def on_result(i: int, outcome: Any) -> None:
        if i not in wanted:
            return
        outcomes[i] = outcome
        if not isinstance(outcome, NotSent):
            tracker.record(outcome, live=isinstance(outcome, Response) and not outcome.cached)

    rest = replace(work, requests=[r if i in wanted else None for i, r in enumerate(requests)],
                   stats=tracker.stats, on_result=on_result)
    await send_all(get_engine(), rest, should_stop=lambda: job.cancel_requested)
