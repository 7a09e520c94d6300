"""Wait on a condition, not on a clock: tests poll a predicate with a generous deadline."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float = 30.0,
               what: str | Callable[[], str] = "condition", every: float = 0.005) -> None:
    """Return as soon as ``predicate()`` is true; fail after ``timeout`` seconds.

    ``what`` names the condition in the failure; a callable is asked then, so the message
    can show the state the wait ended in.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"{said} not reached in {timeout:g} s")
        time.sleep(every)
