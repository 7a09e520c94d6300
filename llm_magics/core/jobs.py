"""One handle shape for work that runs on: fan-outs (async, queue), batch jobs, streams.

Every handle answers the same questions the same way:

* ``status()`` — a ``JobStatus``-shaped snapshot: ``state``, ``total``,
  ``completed``, ``failed``, ``cached``, ``pending``, ``progress`` (0..1),
  ``cost_usd``, ``elapsed_s``, ``done``;
* ``done()`` / ``wait(timeout)`` (returns the handle: ``job.wait().results()``);
* ``results()`` — waits, then the outcome in input order (or what the face made
  of it: a Series); ``aresults()`` is its async form;
* ``cancel(now=False)`` — the one stop verb. A soft cancel sends nothing new and
  lets paid-for calls in flight finish into the cache; ``now=True`` also
  abandons them. Every answer that arrived is kept either way.

``FanoutJob`` here is the handle of the fan-out backends (in-process async and
the Celery queue); ``core.batch.BatchJob`` has the same shape for the Batch API.

    >>> job = df.llm.apply("Summarise {text}", background=True)     # doctest: +SKIP
    >>> job.status().progress, job.done()                            # doctest: +SKIP
    >>> df["summary"] = job.results()                                # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from .. import errors
from .call_stats import CallStats
from .progress import FanoutTracker

__all__ = ["Job", "JobCounts", "JobStatus", "FanoutJob", "NotSent", "CLEANUP_WAIT_S"]

CLEANUP_WAIT_S = 10.0
"""How long a hard cancel waits for a fan-out to flush the cache and close."""

class NotSent(errors.CancelledError):
    """A row the job stopped before sending (internal marker; never shown in a result)."""


class JobCounts:
    """``pending``, ``progress`` and ``done`` from a status's counts (``JobSummary`` too)."""

    terminal_states: ClassVar[frozenset[str]] = frozenset({"done", "failed", "cancelled"})
    state: str
    total: int
    completed: int
    failed: int

    @property
    def pending(self) -> int:
        return max(self.total - self.completed - self.failed, 0)

    @property
    def progress(self) -> float:
        """Share of lines finished (answered or failed), 0..1; 1 for a job with no lines."""
        return (self.completed + self.failed) / self.total if self.total else 1.0

    @property
    def done(self) -> bool:
        """True once the job is in a terminal state."""
        return self.state in self.terminal_states


@dataclass(frozen=True)
class JobStatus(JobCounts):
    """Where a job stands; ``core.batch.JobSummary`` has the same fields and more."""

    state: str
    total: int
    completed: int
    failed: int
    cached: int
    cost_usd: float | None
    elapsed_s: float


class Job(Protocol):
    """What every handle offers (see the module docstring)."""

    def status(self) -> Any: ...

    def done(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> Job: ...

    def results(self, timeout: float | None = None) -> Any: ...

    async def aresults(self) -> Any: ...

    def cancel(self, now: bool = False) -> bool: ...

class FanoutJob:
    """A running (or finished) fan-out; ``results()`` gives the outcomes (or the face's result).

    The work runs on the core's event-loop thread, so the notebook stays usable;
    a foreground call uses the same handle and simply waits on it.
    """

    plan: Any = None
    """The ``core.planner.Plan`` of a run that was planned (``mode="auto"``, a deadline)."""
    batch: Any = None
    """The ``BatchJob`` behind a batch run with a deadline (it stays in the job store)."""

    def __init__(self, tracker: FanoutTracker,
                 finalize: Callable[[list[Any]], Any] | None = None) -> None:
        self.tracker = tracker
        self._finalize = finalize
        self._future: concurrent.futures.Future[list[Any]] | None = None
        self._stop = threading.Event()
        self._started = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._result: Any = None
        self._collected = False

    # -- used by the backend that runs it ------------------------------------------------------
    def attach(self, future: concurrent.futures.Future[list[Any]]) -> None:
        self._future = future

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    def mark_started(self) -> None:
        self._started.set()

    def mark_finished(self) -> None:
        self._finished.set()

    # -- public ---------------------------------------------------------------------------------
    @property
    def progress(self) -> dict[str, Any]:
        """Rows done/total, errors, retries, 429s, tokens, cost, rate and ETA, right now."""
        return self.tracker.snapshot()

    @property
    def stats(self) -> CallStats:
        return self.tracker.stats

    def status(self) -> JobStatus:
        snap = self.tracker.snapshot()
        return JobStatus(state=snap["state"], total=snap["total"],
                         completed=snap["done"] - snap["errors"], failed=snap["errors"],
                         cached=snap["cached"], cost_usd=snap["cost_usd"],
                         elapsed_s=snap["elapsed_s"])

    def done(self) -> bool:
        return self._future is not None and self._future.done()

    def wait(self, timeout: float | None = None) -> FanoutJob:
        """Block until the job ends (however it ends), at most ``timeout`` seconds."""
        if self._future is None:
            return self
        concurrent.futures.wait([self._future], timeout)
        if self._future.cancelled() and self._started.is_set():
            self._finished.wait(CLEANUP_WAIT_S if timeout is None else timeout)
        return self

    def cancel(self, now: bool = False) -> bool:
        """Stop sending rows; with ``now=True`` also abandon calls in flight. ``False`` if done."""
        if self.done():
            return False
        self._stop.set()
        if now and self._future is not None:
            self._future.cancel()
            if self._started.is_set():
                self._finished.wait(CLEANUP_WAIT_S)
        return True

    def outcomes(self, timeout: float | None = None) -> list[Any]:
        """One value per input, in input order: ``Response``, ``LLMError`` or ``None``."""
        if self._future is None:
            raise errors.LLMError("This job was never started.")
        try:
            outcomes = self._future.result(timeout)
        except KeyboardInterrupt:
            self.cancel(now=True)
            raise
        except concurrent.futures.CancelledError:
            raise self._stopped_error() from None
        if self._stop.is_set() and any(isinstance(o, NotSent) for o in outcomes):
            raise self._stopped_error()
        return outcomes

    def results(self, timeout: float | None = None) -> Any:
        """Waits, then the outcomes (or the face's result: a Series aligned to the index).

        Ctrl-C while waiting stops the job at once (``cancel(now=True)``) and
        re-raises ``KeyboardInterrupt``; finished rows stay in the cache.
        """
        outcomes = self.outcomes(timeout)
        if self._finalize is None:
            return outcomes
        with self._lock:
            if not self._collected:
                self._result = self._finalize(outcomes)
                self._collected = True
        return self._result

    async def aresults(self) -> Any:
        """``await`` form of ``results()``; cancelling the await stops the job at once."""
        if self._future is None:
            raise errors.LLMError("This job was never started.")
        try:
            await asyncio.wrap_future(self._future)
        except asyncio.CancelledError:
            self._stop.set()
            raise
        return self.results(0)

    def _stopped_error(self) -> errors.CancelledError:
        snap = self.tracker.snapshot()
        what = self.tracker.title or "The run"
        return errors.CancelledError(
            f"{what} was stopped after {snap['done']:,} of {snap['total']:,} rows. "
            "Every answer that arrived is cached: run the same call again to send only "
            "the rest."
        )

    def __repr__(self) -> str:
        snap = self.tracker.snapshot()
        return (f"<FanoutJob {snap['state']}: {snap['done']:,}/{snap['total']:,} rows, "
                f"{snap['errors']:,} errors>")
