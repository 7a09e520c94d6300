"""``StreamView``: the widget ``%%llm_stream`` shows, text growing live with a Stop button.

The widget is passive: it draws what :class:`~llm_magics.jupyter.streaming.StreamRun`
hands it and reports clicks. The run calls :meth:`StreamView.show` from the
core's background loop at most ~20 times a second (see ``streaming.Throttle``);
ipywidgets sends those trait changes over the kernel's IOPub channel, which is
safe from any thread, so the text grows while the kernel is idle and free to
receive the Stop click.

    >>> view = StreamView(fmt="markdown")            # doctest: +SKIP
    >>> view.show("Hello **world**", LiveStats(tokens=2, elapsed_s=0.4))  # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as widgets
from traitlets import Enum, Unicode

from .render import FORMATS, to_html
from .streaming import STATUSES, LiveStats, format_footer

__all__ = ["StreamView", "LiveStats", "format_footer"]


class StreamView(widgets.VBox):
    """Live text, a Stop button and a footer (TTFT, tokens/s, tokens, cost)."""

    value = Unicode("", help="The text streamed so far, exactly as the model sent it.")
    status = Enum(STATUSES, "waiting", help="Where the stream is: " + ", ".join(STATUSES) + ".")
    fmt = Enum(FORMATS, "markdown", help="How the text is drawn: " + ", ".join(FORMATS) + ".")

    def __init__(self, fmt: str = "markdown", on_stop: Callable[[], None] | None = None) -> None:
        self._body = widgets.HTML(layout=widgets.Layout(max_height="32em", overflow="auto"))
        self._footer = widgets.HTML(value=_footer_html(LiveStats()))
        self._stop = widgets.Button(
            description="Stop", icon="stop", tooltip="Stop the stream and keep the text so far",
            layout=widgets.Layout(width="auto"),
        )
        self._on_stop = on_stop
        self._stop.on_click(self._clicked)
        row = widgets.HBox([self._stop, self._footer], layout=widgets.Layout(align_items="center"))
        super().__init__(children=[self._body, row], fmt=fmt)

    def __repr__(self) -> str:  # cheap: no text, it can be long
        return f"StreamView(status={self.status!r}, chars={len(self.value)})"

    @property
    def stop_button(self) -> widgets.Button:
        return self._stop

    def _clicked(self, _button: widgets.Button) -> None:
        self._stop.disabled = True
        if self._on_stop is not None:
            self._on_stop()

    def show(self, text: str, stats: LiveStats) -> None:
        """Draw ``text`` and the footer; one call is one front-end update."""
        if text != self.value:
            self._body.value = to_html(text, self.fmt)
            self.value = text
        self._footer.value = _footer_html(stats)
        self.status = stats.status
        if stats.status not in ("waiting", "streaming"):
            self._stop.disabled = True


def _footer_html(stats: LiveStats) -> str:
    colour = {"error": "#b00020", "stopped": "#8a6d00", "interrupted": "#8a6d00"}.get(
        stats.status, "#666"
    )
    text = html.escape(format_footer(stats))
    return f'<span style="color:{colour};font-size:0.85em">{text}</span>'
