"""One parameter list for several entry points: declared once, shown on each of them.

``complete``, ``stream`` and their async twins take the same options, and
``arun_requests`` takes what a ``QueueRun`` does. The entry point is written
as a function of the template's result; ``inspect.signature``, ``help()``,
the reference docs and type checkers see the template's parameters.

    >>> def point(x: int, *, y: int = 0) -> tuple[int, int]: return x, y
    >>> @parameters_of(point)
    ... def norm1(p: tuple[int, int]) -> int: return abs(p[0]) + abs(p[1])
    >>> norm1(3, y=-4), list(inspect.signature(norm1).parameters)
    (7, ['x', 'y'])
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["parameters_of"]

P = ParamSpec("P")
A = TypeVar("A")
R = TypeVar("R")


def parameters_of(template: Callable[P, A]) -> Callable[[Callable[[A], R]], Callable[P, R]]:
    """Make ``face(template(*args, **kwargs))`` callable as ``face(*args, **kwargs)``."""

    def decorate(face: Callable[[A], R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(face):
            async def entry(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await face(template(*args, **kwargs))
        else:
            def entry(*args: P.args, **kwargs: P.kwargs) -> Any:
                return face(template(*args, **kwargs))
        functools.update_wrapper(entry, face)
        entry.__signature__ = inspect.signature(template).replace(  # type: ignore[attr-defined]
            return_annotation=inspect.signature(face).return_annotation)
        return entry

    return decorate
