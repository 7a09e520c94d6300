"""``deadline=``: when a whole run must be done, as the user writes it and as the core keeps it.

A deadline is given in seconds or as ``"90s"``, ``"30m"``, ``"2h"``, ``"1d"``
and kept as a point on the monotonic clock, so every part of one run (the
planner, a batch's watcher, the async calls after a switch) counts down to
the same moment. It is not ``deadline_s``, the bound on one call: a run's
deadline becomes each call's ``deadline_s`` as the time left when it starts.

    >>> parse_deadline("30m"), parse_deadline(90), parse_deadline(" 1.5h ")
    (1800.0, 90.0, 5400.0)
"""

from __future__ import annotations

import math
import re
import time

from .. import errors
from .settings import Settings

__all__ = ["parse_deadline", "deadline_at", "time_left", "within_deadline", "missed_error"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_HOW = ('deadline= takes seconds (a number) or a number with a unit: "90s", "30m", "2h", '
        '"1d"')


def parse_deadline(value: float | int | str | None) -> float | None:
    """Seconds from now, or ``None`` for no deadline; anything else is a clear error."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise errors.InvalidRequestError(f"deadline={value!r}: {_HOW}.")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        seconds = float(match[1]) * _UNITS[(match[2] or "s").lower()]
    else:
        raise errors.InvalidRequestError(f"deadline={value!r}: {_HOW}.")
    if not math.isfinite(seconds) or seconds <= 0:
        raise errors.InvalidRequestError(f"deadline={value!r} must be more than 0 s: {_HOW}.")
    return seconds


def deadline_at(value: float | int | str | None) -> float | None:
    """The monotonic moment a deadline given now ends (``None``: no deadline)."""
    seconds = parse_deadline(value)
    return None if seconds is None else time.monotonic() + seconds


def time_left(at: float | None) -> float | None:
    """Seconds until ``at`` (never below 0), or ``None`` without a deadline."""
    return None if at is None else max(0.0, at - time.monotonic())


def within_deadline(settings: Settings, at: float | None) -> Settings:
    """``settings`` whose per-call ``deadline_s`` ends no later than the run's deadline."""
    left = time_left(at)
    if left is None or (settings.deadline_s is not None and settings.deadline_s <= left):
        return settings
    return settings.model_copy(update={"deadline_s": max(left, 1e-3)})


def missed_error() -> errors.DeadlineExceededError:
    """The value of a row whose turn came after the run's deadline had passed."""
    return errors.DeadlineExceededError(
        "Not sent: the run's deadline passed before this row's turn. Run the same call "
        "again with a later deadline= (answers that arrived are cached and not sent again).")
