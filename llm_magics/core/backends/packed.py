"""``pack=N`` over the async fan-out: the packs of a run's rows, and their answers split back.

A layer under ``send_pending`` (``core.backends.inprocess``), not another
fan-out: ``PackedRequests`` looks to it like a ``RequestSet`` whose pending
requests are the packs. Finishing a
pack splits its reply (``core.packing``) and finishes each row that got its
own answer in the run's ``RequestSet``, writing that answer to the cache under
the row's own key. Rows the pack did not answer (missing, duplicated, invalid,
a reply cut short, a request the server refused as too big) stay pending, and
the second pass sends them one by one through ``send_pending``.
"""

from __future__ import annotations

from ... import errors
from ..call_stats import CallStats
from ..jobs import NotSent
from ..packing import Packed, pack_rows, packable_groups, row_answers
from ..requestset import Outcome, RequestSet
from ..types import Request, Response

__all__ = ["PackedRequests"]


def _resent_alone(error: Outcome) -> bool:
    """A packed request the server refused as a bad request may be refused for being packed
    (too long for the context): its rows get their own chance alone. Any other failure (a
    5xx after retries, a timeout, an unknown model) would fail each row alike."""
    return isinstance(error, errors.InvalidRequestError) and not isinstance(
        error, errors.ModelNotFoundError)


class PackedRequests:
    """The packs of a ``RequestSet``, shaped like one for ``send_pending``."""

    def __init__(self, rows: RequestSet, size: int) -> None:
        self.rows = rows
        self.stats = CallStats()
        """The packed calls' own counters: rows are counted in ``rows.stats`` as they land."""
        self.budget = rows.budget
        """A pack reserves and spends as one call; under a cap its rows carry an answer bound,
        so the pack's is their sum (``core.budget``)."""
        self.packs: dict[str, Packed] = {}
        self.pending: dict[str, Request] = {}
        for keys in packable_groups(rows.pending, size):
            if len(keys) < 2:
                continue  # a pack of one is the row alone: the second pass sends it
            packed = pack_rows([rows.pending[k] for k in keys], keys)
            key = packed.request.cache_key()
            self.packs[key] = packed
            self.pending[key] = packed.request

    def finish(self, key: str, outcome: Outcome, *, counted: bool = False) -> None:
        packed = self.packs.pop(key)
        self.pending.pop(key, None)
        self._merge_pacing()
        if isinstance(outcome, Response):
            for row_key, answer in row_answers(packed, outcome).items():
                self.rows.finish(row_key, answer, store=True)
        elif not _resent_alone(outcome):
            for row_key in packed.keys:
                self.rows.finish(row_key, outcome, counted=isinstance(outcome, NotSent))

    def _merge_pacing(self) -> None:
        """Attempts, retries and 429s of the packed calls show in the run's counters."""
        shared = self.rows.stats
        for name in ("attempts", "retries", "rate_limited"):
            setattr(shared, name, getattr(shared, name) + getattr(self.stats, name))
            setattr(self.stats, name, 0)
        shared.paused_until = max(shared.paused_until, self.stats.paused_until)
