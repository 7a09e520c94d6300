"""Dedupe + cache lookup, the one step every mode takes before sending anything.

Requests come in input order; an item that is not a ``Request`` (``None``: the
row sends nothing; an ``LLMError``: it failed before sending) passes through
to its slot. Identical requests share one cache key and one answer. The cache
is asked once, in one pass, before any call, so a re-run sends nothing and an
interrupted run sends only what is missing. A backend then sends ``pending``
and reports each answer with ``finish(key, outcome)``, which delivers it to
every slot that shares the key.

    >>> from llm_magics.core.types import Request
    >>> cat = Request([{"role": "user", "content": "cat"}], "m", "u")
    >>> rs = RequestSet([cat, None, cat])
    >>> len(rs.pending), rs.results
    (1, [None, None, None])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from .. import errors
from .budget import Budget
from .call_stats import CallStats
from .history.record import Recorder, record
from .policy.cache import ResponseCache
from .types import Outcome, Request, Response

__all__ = ["RequestSet", "Sendable", "Outcome", "OnResult"]

OnResult = Callable[[int, "Outcome | None"], None]


class Sendable(Protocol):
    """What a sender needs of a set of requests: what to send, and where each outcome goes
    (a ``RequestSet``, or the packs over one: ``core.backends.packed``)."""

    stats: CallStats
    budget: Budget | None

    @property
    def pending(self) -> Mapping[str, Request]: ...

    def finish(self, key: str, outcome: Outcome, *, counted: bool = False) -> None: ...


class RequestSet:
    """The requests of one run, grouped by cache key; results fill in as answers arrive.

    ``on_result(i, outcome)`` fires once per input position, in completion order
    (pass-through items and cache hits first, at construction). ``budget`` is the
    run's ``max_cost_usd`` (``core.budget``), which every backend honours.
    """

    def __init__(
        self,
        requests: Sequence[Request | errors.LLMError | None],
        *,
        cache: ResponseCache | None = None,
        stats: CallStats | None = None,
        on_result: OnResult | None = None,
        budget: Budget | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.stats = stats if stats is not None else CallStats()
        self.budget = budget
        self.cache = cache
        self.recorder = recorder
        """Records answers that did not come through this process's engine (the cache's, the
        queue's): the engine records the calls it makes itself."""
        self.on_result = on_result
        self.results: list[Outcome | None] = [None] * len(requests)
        self.groups: dict[str, list[int]] = {}
        """cache key -> input positions sharing it, in first-seen order."""
        self.unique: dict[str, Request] = {}
        """cache key -> its request, every distinct request (cached or not)."""
        self.hits: dict[str, Response] = {}
        self.pending: dict[str, Request] = {}
        """Distinct requests still to send, in first-seen order; ``finish`` removes them."""
        for i, req in enumerate(requests):
            if isinstance(req, Request):
                key = req.cache_key()
                if key not in self.groups:
                    self.groups[key] = []
                    self.unique[key] = req
                self.groups[key].append(i)
            else:
                if isinstance(req, errors.LLMError):
                    self.stats.failed += 1
                self._deliver(i, req)
        self.pending = dict(self.unique)
        if cache is not None and self.unique:
            self.hits = cache.get_many(self.unique)
            for key, hit in self.hits.items():
                self.finish(key, hit)

    def _deliver(self, i: int, outcome: Outcome | None) -> None:
        self.results[i] = outcome
        if self.on_result is not None:
            self.on_result(i, outcome)

    def first_index(self, key: str) -> int:
        return self.groups[key][0]

    def finish(self, key: str, outcome: Outcome, *, store: bool = False,
               counted: bool = False) -> None:
        """Deliver one distinct request's outcome to every position sharing it.

        ``store=True`` also writes an answer to the cache (backends whose calls
        ran elsewhere); ``counted=True`` when the caller's stats already hold it
        (the engine counts and records what it runs).
        """
        request = self.pending.pop(key, None)
        if request is None:
            return  # already finished (a late duplicate answer)
        if not counted:
            record(self.recorder, request, outcome)
        if isinstance(outcome, Response):
            if not counted:
                self.stats.add_response(outcome)
            if store and self.cache is not None:
                self.cache.put(key, outcome)
        elif not counted and not isinstance(outcome, errors.CancelledError):
            self.stats.failed += 1
        for i in self.groups[key]:
            self._deliver(i, outcome)

    def flush(self) -> None:
        """Commit answers written so far (a run that ends or is interrupted keeps them)."""
        if self.cache is not None:
            self.cache.flush()

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        return (f"<RequestSet {len(self.results)} inputs, {len(self.unique)} distinct, "
                f"{len(self.hits)} cached, {len(self.pending)} to send>")

