"""The engine's per-(endpoint, model) policy objects, bounded.

A limiter or breaker exists for every model name a process has called. In a
notebook that is a handful; behind the gateway the names come from clients, and
an upstream without ``/v1/models`` cannot tell an invented name from a real one,
so a client could grow the table without end. Past ``MAX_IDLE_POLICIES`` entries
the least recently used ones *at rest* are dropped: an object at rest (a full
bucket and no pause or waiter; a closed breaker with nothing in flight) acts as
a new one would, so the next call to that name rebuilds it with no change in
behaviour (limits learned from headers are learned again from its answer).
Objects that are not at rest are never dropped, so nothing in use loses state;
the table holds at most ``MAX_IDLE_POLICIES`` or twice what was in use at its
last sweep, whichever is more.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from ..constants import MAX_IDLE_POLICIES

__all__ = ["PolicyTable"]

Key = tuple[str, str]
T = TypeVar("T")


class PolicyTable(OrderedDict[Key, T], Generic[T]):
    """A dict of policy objects, least recently used first, that drops idle ones past a size."""

    def __init__(self, at_rest: Callable[[T], bool], limit: int = MAX_IDLE_POLICIES) -> None:
        super().__init__()
        self.at_rest = at_rest
        self.limit = limit
        self._sweep_above = limit

    def use(self, key: Key) -> T | None:
        """The object for ``key``, now the most recently used, or ``None``."""
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def add(self, key: Key, value: T) -> T:
        self[key] = value
        if len(self) > self._sweep_above:
            self._sweep(keep=key)
        return value

    def _sweep(self, keep: Key) -> None:
        idle = [k for k, v in self.items() if k != keep and self.at_rest(v)]  # oldest first
        for key in idle[:max(0, len(self) - self.limit // 2)]:
            del self[key]
        # When little was idle, wait until the table doubles: a sweep costs its length.
        self._sweep_above = max(self.limit, 2 * len(self))
