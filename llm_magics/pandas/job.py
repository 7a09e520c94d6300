"""The handle of a running ``apply``: poll it, watch it, stop it, collect it.

A background apply runs on the core's event-loop thread, so the notebook stays
usable; the handle is how the cell that started it (or any later cell) talks
to it. A foreground apply uses the same handle and simply waits on it.

Stopping comes in two strengths, because calls in flight are already paid for:

* ``cancel()`` (the widget's Stop button): send no new rows, let the calls in
  flight finish into the cache, then end. A re-run sends exactly the rows that
  never went out, so the two runs together make one call per row.
* ``cancel(now=True)`` and Ctrl-C / kernel interrupt: also abandon the calls in
  flight. Every answer that arrived is kept (the cache is flushed before the
  handle reports it has stopped); a re-run sends the rest, in-flight ones included.

    >>> job = df.llm.apply("Summarise {text}", background=True)     # doctest: +SKIP
    >>> job.progress["done"], job.done()                             # doctest: +SKIP
    >>> df["summary"] = job.result()                                 # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

from .. import errors
from ..core.engine import CallStats
from ..jupyter.progress import FanoutTracker

__all__ = ["ApplyJob", "NotSent"]

CLEANUP_WAIT_S = 10.0
"""How long a hard cancel waits for the fan-out to flush the cache and close."""


class NotSent(errors.CancelledError):
    """A row the job stopped before sending (internal marker; never shown in a result)."""


class ApplyJob:
    """A running (or finished) ``df.llm.apply``; ``result()`` gives the Series or DataFrame."""

    def __init__(self, tracker: FanoutTracker,
                 finalize: Callable[[list[Any]], Any]) -> None:
        self.tracker = tracker
        self._finalize = finalize
        self._future: concurrent.futures.Future[list[Any]] | None = None
        self._stop = threading.Event()
        self._started = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._result: Any = None
        self._collected = False

    # -- used by the mode that runs it -----------------------------------------------------------
    def attach(self, future: concurrent.futures.Future[list[Any]]) -> None:
        self._future = future

    @property
    def stop_requested(self) -> bool:
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

    def done(self) -> bool:
        return self._future is not None and self._future.done()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (however it ends); ``True`` if it has."""
        if self._future is None:
            return False
        concurrent.futures.wait([self._future], timeout)
        if self._future.cancelled() and self._started.is_set():
            self._finished.wait(CLEANUP_WAIT_S if timeout is None else timeout)
        return self._future.done()

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

    def result(self, timeout: float | None = None) -> Any:
        """The Series/DataFrame aligned to the source index; raises if stopped or on error.

        Ctrl-C while waiting stops the job at once (``cancel(now=True)``) and
        re-raises ``KeyboardInterrupt``; finished rows stay in the cache.
        """
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
        with self._lock:
            if not self._collected:
                self._result = self._finalize(outcomes)
                self._collected = True
        return self._result

    def _stopped_error(self) -> errors.CancelledError:
        snap = self.tracker.snapshot()
        return errors.CancelledError(
            f"The apply was stopped after {snap['done']:,} of {snap['total']:,} rows. "
            "Every answer that arrived is cached: run the same apply again to send only "
            "the rest."
        )

    def __repr__(self) -> str:
        snap = self.tracker.snapshot()
        return (f"<ApplyJob {snap['state']}: {snap['done']:,}/{snap['total']:,} rows, "
                f"{snap['errors']:,} errors>")
