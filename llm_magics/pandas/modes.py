"""How an apply's requests are executed: one function per ``mode``.

Each mode takes the same ``ApplyPlan`` (requests in row order, ``None`` for a
row that sends nothing, an error for a row that failed before sending) and
returns what ``apply`` returns: the result, or a handle when the work goes on
in the background. Outcomes come back in row order and go through
``plan.finalize`` (assembly, ``last_errors``, ``errors="raise"``). Adding
``batch`` (OpenAI Batch API: its job handle, ``finalize`` once the output file
is merged back by ``custom_id``) or ``queue`` (Celery) is one function here and
one entry in ``MODES``; rendering, assembly and the accessor stay as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import errors
from ..core.engine import get_engine
from ..core.fanout import fanout
from ..core.runner import submit
from ..core.types import Request, Response
from ..jupyter.progress import FanoutTracker, follow, open_progress, safely
from .job import ApplyJob, NotSent

if TYPE_CHECKING:
    from .plan import ApplyPlan

__all__ = ["MODES", "check_mode", "start"]


def start(plan: ApplyPlan, *, progress: bool, background: bool) -> Any:
    """Run ``plan`` in its mode: the Series/DataFrame, or a handle for background work."""
    check_mode(plan.mode)
    return MODES[plan.mode](plan, progress=progress, background=background)


class _StoppableEngine:
    """The engine, except that once the job is stopped no new request goes out.

    The fan-out's workers ask it for one request at a time, so this is where a
    graceful stop bites: calls already in flight finish (and are cached), the
    rest come back at once as ``NotSent``.
    """

    def __init__(self, engine: Any, job: ApplyJob) -> None:
        self._engine = engine
        self._job = job

    async def complete(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if self._job.stop_requested:
            raise NotSent("Stopped before this row was sent.")
        return await self._engine.complete(request, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def run_async(plan: ApplyPlan, *, progress: bool, background: bool,
              fan: Callable[..., Any] = fanout) -> Any:
    """``mode="async"``: bounded concurrent calls on the core's event loop (``core.fanout``).

    The calls run on the runner thread either way; the foreground just waits on
    the handle (interruptibly), the background returns it.
    """
    tracker = FanoutTracker(len(plan.requests), title=plan.title)
    job = ApplyJob(tracker, plan.finalize)
    reporter = open_progress(tracker, enabled=progress, on_stop=job.cancel if background else None)
    requests = plan.requests

    def on_result(i: int, outcome: Any) -> None:
        if isinstance(outcome, NotSent):
            return
        if isinstance(outcome, Response):
            # The result keeps text (or parsed JSON) only; the raw body (~3 KB of dicts per
            # row, already serialised into the cache) would dominate a 100,000-row apply.
            outcome.raw = None
        live = isinstance(requests[i], Request) and not getattr(outcome, "cached", False)
        tracker.record(outcome, live=live)

    async def run() -> list[Any]:
        job.mark_started()
        ticker = asyncio.ensure_future(follow(tracker, reporter)) if reporter else None
        state = "failed"
        try:
            extra = {} if fan is fanout else {"should_stop": lambda: job.stop_requested}
            outcomes = await fan(
                _StoppableEngine(get_engine(), job), requests, plan.endpoint, plan.settings,
                concurrency=plan.settings.concurrency, use_cache=plan.use_cache,
                stats=tracker.stats, on_result=on_result, **extra,
            )
            state = "cancelled" if job.stop_requested else "done"
            return outcomes
        except asyncio.CancelledError:
            state = "cancelled"
            raise
        finally:
            if ticker is not None:
                ticker.cancel()
            tracker.finish(state)
            if reporter is not None:
                safely(reporter.finish, tracker.snapshot())
            plan.requests = []  # a finished job need not hold 100,000 requests
            job.mark_finished()

    job.attach(submit(run()))
    return job if background else job.result()


def run_batch(plan: ApplyPlan, *, progress: bool, background: bool) -> Any:
    """``mode="batch"``: an OpenAI Batch API job; ``job.wait().results()`` is the Series.

    It always returns the job handle at once (a batch may take hours); ``%llm_batch
    status`` shows it live, and the job store keeps it across kernel restarts.
    """
    from ..core.batch import submit_requests

    return submit_requests(plan.requests, plan.endpoint, plan.settings,
                           use_cache=plan.use_cache, index_labels=list(plan.index),
                           finalize=plan.finalize, metadata={"source": plan.title})


def run_queue(plan: ApplyPlan, *, progress: bool, background: bool) -> Any:
    """``mode="queue"``: the same job with the calls on Celery workers (``llm_magics.queue``)."""
    from ..queue import queue_fanout

    return run_async(plan, progress=progress, background=background, fan=queue_fanout)


MODES: dict[str, Callable[..., Any]] = {
    "async": run_async, "batch": run_batch, "queue": run_queue,
}


def check_mode(mode: str) -> None:
    """Refuse an unknown mode before anything is rendered, resolved or sent."""
    if mode not in MODES:
        raise errors.InvalidRequestError(
            f"mode={mode!r} is not a mode; use one of {', '.join(map(repr, MODES))}."
        )
