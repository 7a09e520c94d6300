"""Streams still running after their cell returned, and the hook that waits for them.

``%%llm_stream`` returns at once in widget mode (see ``streaming``), so the
next cell could start before the answer is complete. :meth:`PendingStreams.before_cell`
is registered as IPython's ``pre_run_cell`` hook: it waits for every unfinished
stream and settles it (``_llm``, ``--out``, chat memory, the saved output) before
the next cell's code runs, which is what makes "Run All" see the finished text.

An interrupt during that wait stops the streams and keeps their partial text.
IPython swallows exceptions from ``pre_run_cell`` hooks, so the waiting cell
would still run; :class:`InterruptGate`, an AST transformer that runs just
after the hook, rejects that one cell instead, and the kernel stops "Run All"
there as it would for any interrupt.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .cell_error import CellRejected

if TYPE_CHECKING:
    from .streaming import StreamRun

__all__ = ["Pending", "PendingStreams", "InterruptGate"]


@dataclass
class Pending:
    """A stream plus what to do with its answer once it is complete."""

    run: StreamRun
    out: str | None = None
    chat_prompt: str | None = None
    """The question to record in the chat with the answer (``--chat`` only)."""
    fmt: str = "markdown"
    view: Any = None
    handle: Any = None
    """The ``DisplayHandle`` of the widget output, updated with the final text."""


class PendingStreams:
    """The unsettled streams of one shell, settled in start order."""

    def __init__(self, settle: Callable[[Pending], None]) -> None:
        self._settle = settle
        self._items: list[Pending] = []
        self.reject_next_cell = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> tuple[Pending, ...]:
        """The unsettled streams, oldest first."""
        return tuple(self._items)

    def add(self, item: Pending) -> None:
        self._items.append(item)

    def before_cell(self, info: Any = None) -> None:
        """``pre_run_cell`` hook: wait for every stream, then settle them all."""
        self.reject_next_cell = False
        if not self._items:
            return
        items, self._items = self._items, []
        try:
            for item in items:
                item.run.wait()
        except KeyboardInterrupt:
            for item in items:  # stop them all first, then give each a moment to close
                item.run.cancel(reason="interrupted")
            for item in items:
                item.run.cancel(now=True, reason="interrupted")
            self.reject_next_cell = True
        for item in items:
            self._settle(item)

    def settle_all(self) -> None:
        """Wait and settle now (tests, ``%%llm_stream`` in a script, unloading)."""
        self.before_cell()
        self.reject_next_cell = False

    def cancel_all(self) -> None:
        for item in self._items:
            item.run.cancel()


class InterruptGate(ast.NodeTransformer):
    """Rejects the one cell whose wait for a stream was interrupted (see module docstring)."""

    def __init__(self, pending: PendingStreams) -> None:
        self.pending = pending

    def visit(self, node: ast.AST) -> ast.AST:
        if self.pending.reject_next_cell:
            self.pending.reject_next_cell = False
            raise CellRejected(
                "the stream was stopped while this cell waited for it; its partial text is "
                "in _llm. This cell did not run."
            )
        return node
