"""The range checks both servers' config dataclasses run in ``__post_init__``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["check_limits", "check_positive"]


def check_limits(config: Any, names: Iterable[str], none_means: str = "no limit") -> None:
    """Each of ``names`` is a whole number >= 1, or ``None`` (meaning ``none_means``)."""
    for name in names:
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1 (or None for {none_means})")


def check_positive(config: Any, names: Iterable[str]) -> None:
    """Each of ``names`` is above zero."""
    for name in names:
        if getattr(config, name) <= 0:
            raise ValueError(f"{name} must be > 0")
