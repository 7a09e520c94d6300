"""Progress of a fan-out: a widget in a notebook, tqdm in a terminal, nothing when asked.

The numbers come from the core's ``CallStats`` (retries, 429s, tokens, cost) and
the fan-out's ``on_result`` callback (rows done, errors), gathered by a
``FanoutTracker`` that costs two additions per row. The display is refreshed by
``follow()`` a few times a second on the runner loop, never once per row, so a
10,000-row run spends no time drawing.

ipywidgets is imported only when a widget is really shown (inside a kernel):
``FanoutProgress`` is built on first access, so a script or a worker that uses
the tqdm fallback never pays for the import.

    >>> tracker = FanoutTracker(total=3)
    >>> tracker.record(None, live=False)
    >>> tracker.snapshot()["done"]
    1
"""

from __future__ import annotations

import asyncio
import html
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..core.engine import CallStats
from ..errors import LLMError

__all__ = [
    "FanoutTracker",
    "ProgressReporter",
    "TqdmProgress",
    "FanoutProgress",  # noqa: F822 - built on first access by __getattr__
    "open_progress",
    "follow",
    "safely",
    "summary",
    "in_notebook",
    "REFRESH_S",
]

_log = logging.getLogger(__name__)

REFRESH_S = 0.25
"""Seconds between two display refreshes: a few per second is smooth and costs nothing."""


class FanoutTracker:
    """Counts what finished; snapshots are plain dicts, safe to read from any thread."""

    def __init__(self, total: int, stats: CallStats | None = None, *, title: str = "") -> None:
        self.total = total
        self.stats = stats if stats is not None else CallStats()
        self.title = title
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
        }


class ProgressReporter(Protocol):
    def update(self, snapshot: dict[str, Any]) -> None: ...

    def finish(self, snapshot: dict[str, Any]) -> None: ...


def summary(snap: dict[str, Any]) -> str:
    """One line for humans: what the widget label and the tqdm postfix both show."""
    parts = [f"{snap['done']:,}/{snap['total']:,} rows"]
    if snap.get("rate"):
        parts.append(f"{snap['rate']:,.1f} rows/s")
    if snap.get("eta_s") is not None:
        parts.append(f"ETA {_duration(snap['eta_s'])}")
    parts.append(f"{snap['tokens']:,} tokens")
    parts.append(f"${snap['cost_usd']:,.4f}")
    parts.append(f"{snap['errors']:,} errors")
    parts.append(f"{snap['retries']:,} retries")
    parts.append(f"{snap['rate_limited']:,}x429")
    if snap.get("paused_s"):
        parts.append(f"paused {_duration(snap['paused_s'])} after a 429")
    if snap.get("cached"):
        parts.append(f"{snap['cached']:,} cached")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
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
        self.bar.set_postfix_str(
            f"{snapshot['errors']} err, {snapshot['retries']} retry, "
            f"{snapshot['rate_limited']}x429, {snapshot['tokens']:,} tok, "
            f"${snapshot['cost_usd']:.4f}",
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
    if in_notebook():
        from IPython.display import display

        widget = _widget_class()(total=tracker.total, title=tracker.title, on_stop=on_stop)
        display(widget)
        return widget
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


def _define_widget() -> type:
    import ipywidgets as widgets
    import traitlets

    class FanoutProgress(widgets.VBox):
        """Live progress of a fan-out: done/total, rate, ETA, tokens, cost, errors, retries, 429s.

        Built from standard ipywidgets (a bar and an HTML line), so it renders in
        JupyterLab, Notebook 7, VS Code and saved outputs without a frontend
        extension. The counters are traits (set them, or call ``update`` with a
        ``FanoutTracker.snapshot()``); the view follows.

            >>> bar = FanoutProgress(total=100)                     # doctest: +SKIP
            >>> bar.update({"done": 40, "total": 100, ...})          # doctest: +SKIP
        """

        total = traitlets.Int(0, help="Rows in the fan-out.")
        done = traitlets.Int(0, help="Rows finished (answered, failed, cached or skipped).")
        errors = traitlets.Int(0, help="Rows that ended in an error.")
        retries = traitlets.Int(0, help="Retried attempts so far.")
        rate_limited = traitlets.Int(0, help="429 answers received so far.")
        cached = traitlets.Int(0, help="Rows answered from the cache.")
        tokens = traitlets.Int(0, help="Prompt plus completion tokens so far.")
        cost_usd = traitlets.Float(0.0, help="Cost so far in USD (0 when the price is unknown).")
        rate = traitlets.Float(None, allow_none=True, help="Rows answered per second.")
        eta_s = traitlets.Float(None, allow_none=True, help="Seconds left at the current rate.")
        paused_s = traitlets.Float(0.0, help="Seconds the endpoint stays paused after a 429.")
        state = traitlets.Unicode("running", help="running, done, failed or cancelled.")
        title = traitlets.Unicode("", help="What is running, shown before the counters.")

        def __init__(self, *, total: int = 0, title: str = "",
                     on_stop: Callable[[], None] | None = None, **kwargs: Any) -> None:
            self._bar = widgets.IntProgress(value=0, min=0, max=max(total, 1),
                                            layout=widgets.Layout(width="100%"))
            self._label = widgets.HTML()
            children: list[Any] = [self._bar, self._label]
            self._stop = None
            if on_stop is not None:
                self._stop = widgets.Button(description="Stop", button_style="warning",
                                            tooltip="Stop sending rows; finished rows stay cached")
                self._stop.on_click(lambda _: on_stop())
                children.append(self._stop)
            super().__init__(children=children, total=total, title=title, **kwargs)
            self._render()

        @traitlets.validate("done")
        def _clamp_done(self, proposal: Any) -> int:
            return max(0, min(proposal["value"], self.total or proposal["value"]))

        @traitlets.observe("total", "done", "errors", "retries", "rate_limited", "cached",
                           "tokens", "cost_usd", "rate", "eta_s", "paused_s", "state", "title")
        def _on_change(self, _change: Any) -> None:
            if not self._holding:
                self._render()

        _holding = False

        def update(self, snapshot: dict[str, Any]) -> None:
            """Set every counter from a tracker snapshot, then redraw once."""
            self._holding = True
            try:
                for name in ("total", "done", "errors", "retries", "rate_limited", "cached",
                             "tokens", "cost_usd", "rate", "eta_s", "paused_s", "state"):
                    if name in snapshot:
                        setattr(self, name, snapshot[name])
            finally:
                self._holding = False
            self._render()

        def finish(self, snapshot: dict[str, Any]) -> None:
            """Final numbers; the widget stays on screen (it is a record of the run)."""
            self.update(snapshot)
            if self._stop is not None:
                self._stop.disabled = True

        def snapshot(self) -> dict[str, Any]:
            return {name: getattr(self, name) for name in (
                "state", "total", "done", "errors", "cached", "retries", "rate_limited",
                "tokens", "cost_usd", "rate", "eta_s", "paused_s")}

        def _render(self) -> None:
            self._bar.max = max(self.total, 1)
            self._bar.value = min(self.done, self._bar.max)
            self._bar.bar_style = {"done": "success", "failed": "danger",
                                   "cancelled": "warning"}.get(self.state, "")
            if self.state == "done" and self.errors:
                self._bar.bar_style = "warning"
            head = f"<b>{html.escape(self.title)}</b> " if self.title else ""
            tail = "" if self.state == "running" else f" — {html.escape(self.state)}"
            self._label.value = (
                f"<span style='font-family:monospace'>{head}"
                f"{html.escape(summary(self.snapshot()))}{tail}</span>"
            )

        def __repr__(self) -> str:
            return (f"FanoutProgress(done={self.done}, total={self.total}, errors={self.errors}, "
                    f"state={self.state!r})")

    FanoutProgress.__module__ = __name__
    return FanoutProgress


def _widget_class() -> type:
    cls = globals().get("FanoutProgress")
    if cls is None:
        cls = globals()["FanoutProgress"] = _define_widget()
    return cls


def __getattr__(name: str) -> Any:
    """Build ``FanoutProgress`` on first use, so importing this module never imports ipywidgets."""
    if name == "FanoutProgress":
        return _widget_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
