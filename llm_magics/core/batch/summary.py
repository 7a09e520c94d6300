"""One job's state in numbers: what ``status()``, ``jobs()``, the tracker and the CLI show.

A job may span several server batches (over the size limits, or after
``retry_failed()``), so its state is worked out here, from the store alone,
in one place that every face reads:

* while any batch runs, the job is as far along as its slowest batch
  (``validating`` < ``in_progress`` < ``finalizing``; ``cancelling`` wins);
* once all have ended, it is ``completed`` if every request got an answer,
  else named after what happened to the requests without one: ``failed``
  (the batch failed validation or could not be sent) before ``expired``
  before ``cancelled``; a batch that completed with some refused lines is
  still ``completed`` (its errors are in the results).

Counts are in distinct requests ("lines"): identical prompts share one line.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from ..cost import format_money, price_of
from ..jobs import JobCounts
from ..jobstore import BatchRecord, JobRecord, JobStore
from ..progress import format_duration
from .constants import STATE_ORDER, TERMINAL_STATES

__all__ = ["JobSummary", "summarize", "job_state", "format_money"]

_FAILURE_RANK = {"failed": 0, None: 0, "expired": 1, "cancelled": 2, "completed": 3}
_MAX_ERRORS_SHOWN = 5


@dataclass(frozen=True)
class JobSummary(JobCounts):
    """A job right now. ``cost_usd`` is at batch price, ``sync_cost_usd`` what sync would cost."""

    terminal_states: ClassVar[frozenset[str]] = TERMINAL_STATES  # no batch runs

    id: str
    state: str
    total: int
    completed: int
    failed: int
    rows: int
    cached: int
    batches: int
    model: str
    base_url: str
    created_at: float
    ended_at: float | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    sync_cost_usd: float | None = None
    errors: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def elapsed_s(self) -> float:
        return (self.ended_at or time.time()) - self.created_at

    @property
    def saving_usd(self) -> float | None:
        """What the batch price saved over sync calls for the same answers."""
        if self.cost_usd is None or self.sync_cost_usd is None:
            return None
        return self.sync_cost_usd - self.cost_usd

    def describe(self) -> str:
        """One line for humans (plain text; the widget builds its own HTML)."""
        parts = [f"{self.id} {self.state}",
                 f"{self.completed:,}/{self.total:,} done, {self.failed:,} failed",
                 format_duration(self.elapsed_s)]
        if self.cached:
            parts.append(f"{self.cached:,} cached")
        parts.append(f"{format_money(self.cost_usd)} batch")
        if self.saving_usd is not None:
            parts.append(f"saved {format_money(self.saving_usd)} vs sync")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(elapsed_s=self.elapsed_s, saving_usd=self.saving_usd,
                    progress=self.progress, done=self.done)
        return data




def job_state(batches: list[BatchRecord], failed_by_batch: dict[str | None, int],
              unsent: int = 0) -> str:
    """The job's state from its batches and where its failed lines are (rules above).

    ``unsent`` lines are in no batch and have no result: the job is still being
    submitted (or the process submitting it died; ``retry_failed()`` sends them).
    """
    running = [b for b in batches if not (b.status in TERMINAL_STATES and b.fetched)]
    if running:
        if any(b.status == "cancelling" for b in running):
            return "cancelling"
        # A batch that ended but is not downloaded yet still has work left: "finalizing".
        return min((b.status if b.status in STATE_ORDER else "finalizing" for b in running),
                   key=STATE_ORDER.__getitem__)
    if unsent:
        return "submitting"
    failing = [batch_id for batch_id, n in failed_by_batch.items() if n]
    if not failing:
        return "completed"
    status = {b.id: b.status for b in batches}
    return min((status.get(batch_id) if batch_id else None for batch_id in failing),
               key=lambda s: _FAILURE_RANK.get(s, 3)) or "failed"


def summarize(store: JobStore, job: JobRecord, *, batches: list[BatchRecord] | None = None
              ) -> JobSummary:
    """The summary from the store alone (no network): what a listing shows."""
    batches = store.batches(job.id) if batches is None else batches
    counts = store.counts(job.id)
    completed, failed = counts.ok, counts.failed
    for b in batches:  # running batches: the server's live counts for their lines
        if not b.fetched:
            waiting = counts.pending_by_batch.get(b.id, 0)
            completed += min(b.completed, waiting)
            failed += min(b.failed, max(waiting - b.completed, 0))
    state = job_state(batches, counts.failed_by_batch, counts.pending_by_batch.get(None, 0))
    cost, sync_cost = counts.cost_usd, counts.sync_cost_usd
    if cost is None and price_of(job.model) is not None:  # priced, nothing answered yet: $0
        cost = sync_cost = 0.0
    return JobSummary(
        id=job.id, state=state, total=counts.total, completed=completed, failed=failed,
        rows=job.size, cached=counts.cached, batches=len(batches), model=job.model,
        base_url=job.base_url, created_at=job.created_at,
        ended_at=job.ended_at if state in TERMINAL_STATES else None,
        prompt_tokens=counts.prompt_tokens, completion_tokens=counts.completion_tokens,
        cost_usd=cost, sync_cost_usd=sync_cost,
        errors=_batch_errors(batches), metadata=job.metadata,
    )


def _batch_errors(batches: list[BatchRecord]) -> list[str]:
    """The server's reasons for failed batches, e.g. ``line 3: invalid_url: ...``."""
    shown: list[str] = []
    for b in batches:
        for e in b.errors:
            where = f"line {e['line']}: " if e.get("line") is not None else ""
            code = f"{e['code']}: " if e.get("code") else ""
            shown.append(f"{b.id}: {where}{code}{e.get('message') or 'no details'}")
    if len(shown) > _MAX_ERRORS_SHOWN:
        shown = shown[:_MAX_ERRORS_SHOWN] + [f"... and {len(shown) - _MAX_ERRORS_SHOWN} more"]
    return shown
