"""What the job store keeps, as values: a job, the server's view of a batch, line counts."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field, fields
from typing import Any

__all__ = ["JobRecord", "RemoteBatch", "BatchRecord", "LineCounts"]


@dataclass(frozen=True)
class JobRecord:
    """A job as stored (positions are loaded on demand: they can be 50,000 long)."""

    id: str
    created_at: float
    base_url: str
    model: str
    endpoint: str
    size: int
    state: str
    ended_at: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    index_labels: list[Any] | None = None
    use_cache: bool = True
    """Whether answers go into the response cache when downloaded (the submit's choice)."""


@dataclass(frozen=True)
class RemoteBatch:
    """What the server says about one of its batches (``core.batch.api`` reads it)."""

    id: str
    status: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def seen(self) -> dict[str, Any]:
        """Everything but the id, as ``JobStore.update_batch`` takes it."""
        return {f.name: getattr(self, f.name) for f in fields(RemoteBatch) if f.name != "id"}


@dataclass(frozen=True)
class BatchRecord(RemoteBatch):
    """One server batch of a job, as last seen: the server's view and where it belongs."""

    _: KW_ONLY
    job_id: str
    seq: int
    input_file_id: str
    created_at: float = 0.0
    updated_at: float = 0.0
    fetched: bool = False


@dataclass(frozen=True)
class LineCounts:
    """Lines of a job by outcome, and what they cost (``None``: no known price)."""

    total: int = 0
    ok: int = 0
    failed: int = 0
    cached: int = 0
    pending_by_batch: dict[str | None, int] = field(default_factory=dict)
    failed_by_batch: dict[str | None, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    sync_cost_usd: float | None = None
