"""Execution backends: every mode is one backend behind one small protocol, chosen by name.

A backend knows two things: where calls go for a set of settings
(``endpoint_for``: the in-process backend may start the embedded model, the
queue needs no key because its workers hold one, the Batch API refuses a
server without ``/v1/batches``), and how to run a ``Work`` (``start``: run
these requests, report each result in input order, honour ``cancel()``,
update the shared counters) returning a handle with the ``core.jobs.Job``
shape. Dedupe and cache lookup happen before a backend sends anything
(``core.requestset``), so a backend only ever sees what must really be sent.
The protocol and ``Work`` live with the seam, in ``core.pipeline``.

The registry maps a mode name to a factory. The core registers its own
(``async``, ``batch``); optional parts register theirs through the package
wiring (``llm_magics._wiring``: ``queue``), so the core never imports them. A
new mode is one new backend and one ``register_backend`` call.

    >>> sorted(backend_names())                                    # doctest: +SKIP
    ['async', 'batch', 'queue']
"""

from __future__ import annotations

from ..pipeline import Backend, Work
from ..registry import backend_names, get_backend, register_backend

__all__ = ["Backend", "Work", "register_backend", "get_backend", "backend_names"]
