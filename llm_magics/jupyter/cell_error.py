"""Errors from magics as one line (what failed, what to do), not a traceback wall.

The cell still *fails*, on purpose: the kernel then reports an error, so "Run
All" stops there instead of feeding a stale ``_llm`` to the next cells, and
nbclient raises. IPython prints whatever ``_render_traceback_`` returns in
place of the traceback, in the terminal and in every Jupyter front end.

    >>> CellError.from_error(ValueError("bad"))._render_traceback_()
    ['ValueError: bad']
"""

from __future__ import annotations

from IPython.core.error import InputRejected

__all__ = ["CellError", "CellRejected"]


class CellError(Exception):
    """A magic failed; ``cause`` is the original error (an ``LLMError`` usually)."""

    def __init__(self, line: str, cause: BaseException | None = None) -> None:
        super().__init__(line)
        self.line = line
        self.cause = cause

    @classmethod
    def from_error(cls, err: BaseException) -> CellError:
        message = getattr(err, "message", None) or str(err) or "(no message)"
        return cls(f"{type(err).__name__}: {' '.join(message.split())}", err)

    def _render_traceback_(self) -> list[str]:
        return [self.line]


class CellRejected(InputRejected):
    """A cell that must not run (its wait for a stream was interrupted); shown as one line."""

    def _render_traceback_(self) -> list[str]:
        return [f"KeyboardInterrupt: {self}"]
