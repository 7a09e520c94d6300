"""The fan-out progress widget, ``FanoutProgress``, and how the core shows it in a kernel.

The numbers are counted in the core (``core.progress.FanoutTracker``); this is
only the view. Nothing imports this module until a fan-out shows progress
inside a kernel (the package wiring registers ``show_widget`` with the core),
so a script or a worker never loads ipywidgets.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets

from ..core.progress import FanoutTracker, ProgressReporter, summary

__all__ = ["FanoutProgress", "show_widget"]

_COUNTERS = ("state", "total", "done", "errors", "cached", "retries", "rate_limited", "tokens",
             "cost_usd", "cap_usd", "spent_usd", "projected_usd", "rate", "eta_s", "paused_s",
             "deadline_left_s", "note")
"""The traits a tracker snapshot sets, and what the label is rendered from."""


class FanoutProgress(widgets.VBox):
    """Live progress of a fan-out: done/total, rate, ETA, time left before the deadline,
    tokens, cost (of the cap, and projected), errors, retries, 429s, and what changed (a batch
    given up on).

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
    cap_usd = traitlets.Float(None, allow_none=True, help="The run's max_cost_usd (None: no cap).")
    spent_usd = traitlets.Float(
        None, allow_none=True, help="Under a cap: what this run paid (cached answers are free).")
    projected_usd = traitlets.Float(
        None, allow_none=True, help="Projected total cost: spent plus the rows left at the mean "
        "cost of a row sent so far (None until a row is sent).")
    rate = traitlets.Float(None, allow_none=True, help="Rows answered per second.")
    eta_s = traitlets.Float(None, allow_none=True, help="Seconds left at the current rate.")
    paused_s = traitlets.Float(0.0, help="Seconds the endpoint stays paused after a 429.")
    deadline_left_s = traitlets.Float(None, allow_none=True,
                                      help="Seconds left before the run's deadline (None: none).")
    note = traitlets.Unicode("", help="What the run is doing when that is news (a switch).")
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
                       "tokens", "cost_usd", "cap_usd", "spent_usd", "projected_usd", "rate",
                       "eta_s", "paused_s", "deadline_left_s", "note", "state", "title")
    def _on_change(self, _change: Any) -> None:
        self._render()

    def update(self, snapshot: dict[str, Any]) -> None:
        """Set every counter from a tracker snapshot; the front end gets one message per part."""
        with self._bar.hold_sync(), self._label.hold_sync(), self.hold_trait_notifications():
            for name in _COUNTERS:
                if name in snapshot:
                    setattr(self, name, snapshot[name])

    def finish(self, snapshot: dict[str, Any]) -> None:
        """Final numbers; the widget stays on screen (it is a record of the run)."""
        self.update(snapshot)
        if self._stop is not None:
            self._stop.disabled = True

    def snapshot(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COUNTERS}

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


def show_widget(tracker: FanoutTracker, on_stop: Callable[[], None] | None) -> ProgressReporter:
    """Display a ``FanoutProgress`` for ``tracker`` in the current cell's output."""
    from IPython.display import display

    widget = FanoutProgress(total=tracker.total, title=tracker.title, on_stop=on_stop)
    display(widget)
    return widget
