"""``BatchTracker``: one live row per Batch API job: state, counts, progress, time, cost.

The widget is passive: it draws ``JobSummary`` values that the core
computes (``core.batch.summary``). Polling runs as a coroutine on the core's
background loop (``core.loop_thread.submit``), never in the kernel's thread, so
the notebook stays free while a 24-hour batch is followed; ipywidgets sends
the trait changes over the kernel's IOPub channel, which is safe from any
thread. Polls back off from 1 s to 60 s (``poll=`` fixes the interval), the
elapsed time ticks every second in between without a request, and polling
stops by itself once every job is in a terminal state.

    >>> tracker = BatchTracker([job])        # doctest: +SKIP
    >>> tracker                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Float, Int, Unicode, validate

from ..core.batch import BatchJob, JobSummary, poll_delays
from ..core.batch.constants import METADATA_DEADLINE_KEY, TERMINAL_STATES
from ..core.batch.summary import format_money
from ..core.loop_thread import submit
from ..core.progress import format_duration
from ..errors import LLMError

__all__ = ["BatchTracker", "BatchRow", "TICK_S"]

TICK_S = 1.0
"""How often the elapsed time is redrawn between polls (no request is made for it)."""

_STYLE = {"completed": "success", "failed": "danger", "expired": "warning",
          "cancelled": "warning", "cancelling": "warning"}
_COLOUR = {"failed": "#b00020", "expired": "#8a6d00", "cancelled": "#8a6d00",
           "completed": "#1b5e20"}


class BatchRow(widgets.HBox):
    """One job: ``state``, ``completed``/``failed``/``total``, a bar, elapsed time and cost."""

    job_id = Unicode("", help="The job's id in the job store.")
    state = Unicode("submitting", help="validating, in_progress, finalizing, cancelling, "
                    "completed, failed, expired or cancelled.")
    completed = Int(0, help="Requests answered so far (distinct requests, cached included).")
    failed = Int(0, help="Requests that ended without an answer.")
    total = Int(0, help="Distinct requests in the job.")
    elapsed_s = Float(0.0, help="Seconds since the job was submitted (until it ended).")
    cost_usd = Float(None, allow_none=True, help="Cost at batch price; None: unknown price.")
    saving_usd = Float(None, allow_none=True,
                       help="What the same answers would cost more through sync calls.")
    message = Unicode("", help="Why the last poll failed, if it did (polling goes on).")
    deadline_at = Float(None, allow_none=True,
                        help="Unix time a job submitted with deadline= must be done by.")

    def __init__(self, summary: JobSummary) -> None:
        self._name = widgets.HTML(layout=widgets.Layout(min_width="22em"))
        self._bar = widgets.IntProgress(value=0, min=0, max=1,
                                        layout=widgets.Layout(width="30%"))
        self._info = widgets.HTML()
        self._created_at = summary.created_at
        self._holding = False
        super().__init__(children=[self._name, self._bar, self._info],
                         layout=widgets.Layout(align_items="center"), job_id=summary.id)
        self.update(summary)

    @validate("completed", "failed", "total")
    def _not_negative(self, proposal: dict[str, Any]) -> int:
        return max(0, proposal["value"])

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    def update(self, summary: JobSummary) -> None:
        """Take every number from a summary, then redraw once."""
        self._holding = True
        try:
            self.state = summary.state
            self.total = summary.total
            self.completed = summary.completed
            self.failed = summary.failed
            self.elapsed_s = summary.elapsed_s
            self.cost_usd = summary.cost_usd
            self.saving_usd = summary.saving_usd
            self.deadline_at = _deadline_of(summary)
            self.message = ""
        finally:
            self._holding = False
        self._created_at = summary.created_at
        self._render()

    def tick(self) -> None:
        """Advance the elapsed time of a running job (between polls, no request)."""
        if not self.done:
            self.elapsed_s = time.time() - self._created_at
            self._render()

    def show_error(self, message: str) -> None:
        self.message = message
        self._render()

    def _render(self) -> None:
        if self._holding:
            return
        self._bar.max = max(self.total, 1)
        self._bar.value = min(self.completed + self.failed, self._bar.max)
        self._bar.bar_style = _STYLE.get(self.state, "")
        colour = _COLOUR.get(self.state, "#333")
        self._name.value = (
            f"<span style='font-family:monospace'>{html.escape(self.job_id)}</span> "
            f"<b style='color:{colour}'>{html.escape(self.state)}</b>")
        parts = [f"{self.completed:,} done / {self.failed:,} failed / {self.total:,}",
                 format_duration(self.elapsed_s), f"{format_money(self.cost_usd)} batch"]
        if self.saving_usd is not None:
            parts.append(f"saved {format_money(self.saving_usd)} vs sync")
        if self.deadline_at is not None:
            parts.append(self._deadline_part())
        info = " · ".join(html.escape(p) for p in parts)
        if self.message:
            info += f" <span style='color:#b00020'>{html.escape(self.message)}</span>"
        self._info.value = f"<span style='font-family:monospace'>{info}</span>"

    def _deadline_part(self) -> str:
        """Time left while it runs; once it ended short of its answers, where the rest went."""
        if not self.done:
            return f"deadline in {format_duration((self.deadline_at or 0) - time.time())}"
        if self.state == "completed":
            return "done before the deadline"
        return "unanswered rows sent async before the deadline"

    def __repr__(self) -> str:
        return (f"BatchRow({self.job_id} {self.state}: {self.completed}/{self.total} done, "
                f"{self.failed} failed)")


def _deadline_of(summary: JobSummary) -> float | None:
    try:
        return float(summary.metadata[METADATA_DEADLINE_KEY])
    except (KeyError, TypeError, ValueError):
        return None


class BatchTracker(widgets.VBox):
    """Live rows for Batch API jobs; polls from the core's loop until every job has ended."""

    active = Bool(False, help="True while the tracker is polling the server.")
    poll_s = Float(None, allow_none=True,
                   help="Fixed seconds between polls; None backs off from 1 s to 60 s.")

    def __init__(self, jobs: BatchJob | Sequence[BatchJob], *, poll: float | None = None,
                 start: bool = True) -> None:
        self._jobs = [jobs] if isinstance(jobs, BatchJob) else list(jobs)
        self.rows = [BatchRow(job.summary()) for job in self._jobs]
        children: list[Any] = list(self.rows) or [
            widgets.HTML("<i>No batch jobs yet: %llm_batch submit VAR starts one.</i>")]
        super().__init__(children=children, poll_s=poll)
        self._future: concurrent.futures.Future[None] | None = None
        if start:
            self.start()

    @validate("poll_s")
    def _positive(self, proposal: dict[str, Any]) -> float | None:
        value = proposal["value"]
        if value is not None and value <= 0:
            raise ValueError(f"poll must be > 0 seconds, got {value!r}")
        return value

    @property
    def done(self) -> bool:
        """Every job is in a terminal state."""
        return all(row.done for row in self.rows)

    def start(self) -> None:
        """Poll on the core's loop (returns at once); a no-op if polling or all jobs ended."""
        if self.active or (self._future is not None and not self._future.done()) or self.done:
            return
        self.active = True
        self._future = submit(self._follow())

    def stop(self) -> None:
        """Stop polling (the jobs keep running on the server)."""
        if self._future is not None:
            self._future.cancel()
        self.active = False

    def wait(self, timeout: float | None = None) -> bool:
        """Block until polling ends (every job ended, or stopped); ``True`` if it has."""
        if self._future is None:
            return True
        try:
            self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        except concurrent.futures.CancelledError:
            pass
        return True

    async def _follow(self) -> None:
        delays = poll_delays(self.poll_s)
        try:
            while True:
                for row, job in zip(self.rows, self._jobs, strict=True):
                    if not row.done and not row.message.startswith("stopped"):
                        await self._poll_one(row, job)
                if all(row.done or row.message.startswith("stopped") for row in self.rows):
                    return
                await self._sleep(next(delays))
        finally:
            self.active = False

    @staticmethod
    async def _poll_one(row: BatchRow, job: BatchJob) -> None:
        try:
            row.update(await job.astatus())
        except LLMError as err:  # a retryable failure keeps polling; anything else stops
            row.show_error(err.message if err.retryable else f"stopped: {err.message}")

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, TICK_S))
            for row in self.rows:
                row.tick()

    def close(self) -> None:
        self.stop()
        super().close()

    def __repr__(self) -> str:  # cheap: what the rows already hold
        shown = ", ".join(f"{r.job_id} {r.state} {r.completed}/{r.total}" for r in self.rows)
        return f"BatchTracker({shown or 'no jobs'})"
