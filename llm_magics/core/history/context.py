"""Who made a call, carried with it: face, mode, notebook cell, job, gateway client.

A ``ContextVar`` travels with the call from the caller's thread to the core's
event loop (tasks copy the context they start in), so the engine can record
where a call came from without every layer passing it along. Faces label their
calls with ``as_face``; ``pipeline`` adds the mode, the cell and the job id.

    >>> with as_face("magic"):                                       # doctest: +SKIP
    ...     complete("hi")          # the call log says face="magic"
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["CallContext", "current", "as_face", "within", "tag", "default_face"]


@dataclass(frozen=True, slots=True)
class CallContext:
    face: str | None = None
    """Who called: magic, complete, stream, map, apply, batch, gateway."""
    mode: str | None = None
    """How a fan-out runs (async, queue); ``None``: one call (sync or stream)."""
    cell: int | None = None
    """The notebook cell's execution count, when there is one."""
    job_id: str | None = None
    client: str | None = None
    """The gateway client's key id (never the key)."""


_NONE = CallContext()  # frozen: safe to share as the default
_context: ContextVar[CallContext] = ContextVar("llm_magics_call", default=_NONE)  # noqa: B039


def current() -> CallContext:
    return _context.get()


def tag(**changes: Any) -> None:
    """Add to the context of the running task (and of the tasks it starts from now on)."""
    _context.set(replace(_context.get(), **changes))


@contextlib.contextmanager
def as_face(face: str, **changes: Any) -> Iterator[None]:
    """Label the calls made inside the block with ``face``, unless an outer face already did
    (``complete()`` called by ``%%llm`` stays a magic call)."""
    with within(face=_context.get().face or face, **changes):
        yield


def default_face(face: str) -> None:
    """Label the running task's calls ``face`` unless a face already did."""
    if _context.get().face is None:
        tag(face=face)


@contextlib.contextmanager
def within(**changes: Any) -> Iterator[None]:
    """Calls recorded inside the block carry ``changes``, whatever was set before."""
    token = _context.set(replace(_context.get(), **changes))
    try:
        yield
    finally:
        _context.reset(token)
