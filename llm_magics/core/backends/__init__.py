"""Execution backends: every mode is one backend behind one small protocol, chosen by name.

A backend knows two things: where calls go for a set of settings
(``endpoint_for``: the in-process backend may start the embedded model, the
queue needs no key because its workers hold one, the Batch API refuses a
server without ``/v1/batches``), and how to run a ``Work`` (``start``: run
these requests, report each result in input order, honour ``cancel()``,
update the shared counters) returning a handle with the ``core.jobs.Job``
shape. Dedupe and cache lookup happen before a backend sends anything
(``core.requestset``), so a backend only ever sees what must really be sent.

The registry maps a mode name to a factory. The core registers its own
(``async``, ``batch``); optional parts register theirs through the package
wiring (``llm_magics._wiring``: ``queue``), so the core never imports them. A
new mode is one new backend and one ``register_backend`` call.

    >>> sorted(backend_names())                                    # doctest: +SKIP
    ['async', 'batch', 'queue']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ... import errors
from ..endpoint import Endpoint
from ..engine import CallStats
from ..jobs import Job
from ..registry import backend_names, get_backend, register_backend
from ..settings import Settings
from ..types import Request

__all__ = ["Backend", "Work", "register_backend", "get_backend", "backend_names"]


@dataclass
class Work:
    """What a face hands a backend: requests in input order and how to run them."""

    requests: Sequence[Request | errors.LLMError | None]
    settings: Settings
    endpoint: Endpoint
    use_cache: bool | None = None
    concurrency: int | None = None
    stats: CallStats | None = None
    on_result: Callable[[int, Any], None] | None = None
    """Called as each input position finishes (fan-out backends), in completion order."""
    title: str = ""
    progress: bool = False
    background: bool = False
    keep_raw: bool = True
    """Keep each answer's raw body (``Response.raw``); a DataFrame apply drops it."""
    finalize: Callable[[list[Any]], Any] | None = None
    """Turns the outcomes into what ``results()`` returns (a Series for ``df.llm``)."""
    index_labels: list[Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str
    returns_at_once: bool
    """True when ``start`` is worth returning to the user at once (a batch takes hours)."""

    def endpoint_for(self, settings: Settings) -> Endpoint:
        """Where this backend's calls go for ``settings`` (may block: run off the loop)."""
        ...

    async def start(self, work: Work) -> Job:
        """Begin running ``work`` (on the core's loop); return its handle without waiting."""
        ...
