"""Progress of a fan-out, counted in the core and shown by whichever face is around.

A ``FanoutTracker`` gathers the numbers: the core's ``CallStats`` (retries,
429s, tokens, cost) and one ``record`` per finished row (two additions). A
display is refreshed by ``follow()`` a few times a second on the core's loop,
never once per row, so a 10,000-row run spends no time drawing. In a terminal
the display is a tqdm bar; inside a kernel it is whatever the Jupyter face
registered (its ``FanoutProgress`` widget), so the core imports no widget.

    >>> tracker = FanoutTracker(total=3)
    >>> tracker.record(None, live=False)
    >>> tracker.snapshot()["done"]
    1
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import LLMError
from .budget import Budget
from .call_stats import CallStats
from .cost import format_money
from .registry import notebook_display

__all__ = [
    "FanoutTracker", "ProgressReporter", "TqdmProgress", "open_progress", "follow", "safely",
    "summary", "money", "in_notebook", "RunDisplay", "REFRESH_S", "format_duration",
]

_log = logging.getLogger("llm_magics.progress")

REFRESH_S = 0.25
"""Seconds between two display refreshes: a few per second is smooth and costs nothing."""

class FanoutTracker:
    """Counts what finished; snapshots are plain dicts, safe to read from any thread."""

    def __init__(self, total: int, stats: CallStats | None = None, *, title: str = "",
                 deadline_at: float | None = None, budget: Budget | None = None) -> None:
        self.total = total
        self.deadline_at = deadline_at
        self.note = ""
        """What the run is doing, when that is news (a batch given up on before its deadline)."""
        self.stats = stats if stats is not None else CallStats()
        self.title = title
        self.budget = budget
        self.done = 0
        self.errors = 0
        self.live = 0  # rows answered by the server in this run (not cache, not skipped)
        self.state = "running"
        self.started = time.monotonic()
        self.ended: float | None = None

    def record(self, outcome: Any, *, live: bool) -> None:
        """One row finished; ``live`` says a request was really sent for it."""
        self.done += 1
        if isinstance(outcome, LLMError):
            self.errors += 1
        if live:
            self.live += 1

    def finish(self, state: str) -> None:
        self.state = state
        self.ended = time.monotonic()

    def snapshot(self) -> dict[str, Any]:
        elapsed = (self.ended or time.monotonic()) - self.started
        rate = self.live / elapsed if self.live and elapsed > 0 else None
        remaining = max(self.total - self.done, 0)
        eta = remaining / rate if rate and self.state == "running" else None
        s = self.stats
        return {
            "state": self.state,
            "total": self.total,
            "done": self.done,
            "errors": self.errors,
            "cached": s.cached,
            "retries": s.retries,
            "rate_limited": s.rate_limited,
            "prompt_tokens": s.prompt_tokens,
            "completion_tokens": s.completion_tokens,
            "tokens": s.prompt_tokens + s.completion_tokens,
            "cost_usd": s.cost_usd,
            "elapsed_s": elapsed,
            "rate": rate,
            "eta_s": eta,
            "paused_s": s.paused_for_s,
            "deadline_left_s": (None if self.deadline_at is None or self.ended is not None
                                else self.deadline_at - time.monotonic()),
            "note": self.note,
            **self._spending(remaining),
        }

    def _spending(self, remaining: int) -> dict[str, float | None]:
        """Under a cap: what this run paid (the budget's count) and the cap. Either way, the
        projected total: spent plus the rows left at the mean cost of a row sent so far."""
        budget = self.budget
        spent = budget.spent_usd if budget is not None else self.stats.cost_usd
        projected = None
        if self.live and (spent or budget is not None):  # else: nothing sent, or no price
            projected = spent + spent / self.live * remaining
        return {"cap_usd": budget.cap_usd if budget is not None else None,
                "spent_usd": spent if budget is not None else None,
                "projected_usd": projected}


class ProgressReporter(Protocol):
    def update(self, snapshot: dict[str, Any]) -> None: ...

    def finish(self, snapshot: dict[str, Any]) -> None: ...


def summary(snap: dict[str, Any]) -> str:
    """One line for humans: what the widget label and the tqdm postfix both show."""
    parts = [f"{snap['done']:,}/{snap['total']:,} rows"]
    if snap.get("rate"):
        parts.append(f"{snap['rate']:,.1f} rows/s")
    if snap.get("eta_s") is not None:
        parts.append(f"ETA {format_duration(snap['eta_s'])}")
    left = snap.get("deadline_left_s")
    if left is not None:
        parts.append(f"deadline in {format_duration(left)}" if left > 0
                     else f"deadline passed {format_duration(-left)} ago")
    parts.append(f"{snap['tokens']:,} tokens")
    parts.append(money(snap))
    parts.append(f"{snap['errors']:,} errors")
    parts.append(f"{snap['retries']:,} retries")
    parts.append(f"{snap['rate_limited']:,}x429")
    if snap.get("paused_s"):
        parts.append(f"paused {format_duration(snap['paused_s'])} after a 429")
    if snap.get("cached"):
        parts.append(f"{snap['cached']:,} cached")
    if snap.get("note"):
        parts.append(snap["note"])
    return " · ".join(parts)


def money(snap: dict[str, Any]) -> str:
    """Spent, against the cap when there is one, and the projected total of the run."""
    if snap.get("cap_usd") is not None:
        text = f"{format_money(snap['spent_usd'])} of {format_money(snap['cap_usd'])} cap"
    else:
        text = format_money(snap["cost_usd"])
    if snap.get("projected_usd") is not None and snap.get("state", "running") == "running":
        text += f" (~{format_money(snap['projected_usd'])} projected)"
    return text


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``: whole seconds, cut down (a clock never shows time ahead)."""
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class TqdmProgress:
    """The terminal face: a plain (not ``tqdm.auto``) bar on stderr, so no widget import."""

    def __init__(self, total: int, title: str = "llm", file: Any = None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=title or "llm", unit="row", dynamic_ncols=True,
                        file=file if file is not None else sys.stderr, leave=True)

    def update(self, snapshot: dict[str, Any]) -> None:
        self.bar.n = snapshot["done"]
        left = snapshot.get("deadline_left_s")
        self.bar.set_postfix_str(
            f"{snapshot['errors']} err, {snapshot['retries']} retry, "
            f"{snapshot['rate_limited']}x429, {snapshot['tokens']:,} tok, "
            f"{money(snapshot)}"
            + ("" if left is None else f", deadline in {format_duration(max(left, 0))}")
            + (f", {snapshot['note']}" if snapshot.get("note") else ""),
            refresh=False,
        )
        self.bar.refresh()

    def finish(self, snapshot: dict[str, Any]) -> None:
        self.update(snapshot)
        self.bar.close()


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where a widget can render), without importing IPython."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def open_progress(
    tracker: FanoutTracker,
    *,
    enabled: bool = True,
    on_stop: Callable[[], None] | None = None,
) -> ProgressReporter | None:
    """Show progress where it can be seen: a widget in a kernel, tqdm elsewhere, or nothing."""
    if not enabled:
        return None
    display = notebook_display()
    if display is not None and in_notebook():
        return display(tracker, on_stop)
    return TqdmProgress(tracker.total, tracker.title)


async def follow(tracker: FanoutTracker, reporter: ProgressReporter,
                 interval: float = REFRESH_S) -> None:
    """Refresh ``reporter`` every ``interval`` seconds until cancelled (run beside a fan-out).

    A display that breaks (a closed widget, a closed terminal) stops refreshing;
    it never stops the fan-out it watches.
    """
    while True:
        if not safely(reporter.update, tracker.snapshot()):
            return
        await asyncio.sleep(interval)


def safely(method: Callable[[dict[str, Any]], None], snapshot: dict[str, Any]) -> bool:
    """Call a reporter method; log and return ``False`` instead of raising."""
    try:
        method(snapshot)
    except Exception:  # noqa: BLE001 - progress is a view, never a reason to fail
        _log.warning("llm_magics: progress display failed; the run continues", exc_info=True)
        return False
    return True


class RunDisplay:
    """A run's display while it goes on: refreshed beside it, drawn once more at the end.

    Set ``state`` before leaving ("done", "cancelled"); an error leaves it
    ``"failed"``, a cancelled task ``"cancelled"``. The tracker is finished
    either way, so its numbers stop counting time.
    """

    def __init__(self, tracker: FanoutTracker, reporter: ProgressReporter | None) -> None:
        self.tracker = tracker
        self.reporter = reporter
        self.state = "failed"
        self._ticker: asyncio.Future[None] | None = None

    async def __aenter__(self) -> RunDisplay:
        if self.reporter is not None:
            self._ticker = asyncio.ensure_future(follow(self.tracker, self.reporter))
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is asyncio.CancelledError:
            self.state = "cancelled"
        if self._ticker is not None:
            self._ticker.cancel()
        self.tracker.finish(self.state)
        if self.reporter is not None:
            safely(self.reporter.finish, self.tracker.snapshot())
