"""A concurrency bound whose waiters are served by priority, then arrival.

The core's limiter orders callers by priority for *rate*; this does the same
for *requests in flight* (``--concurrency``), so a background batch holding
every slot hands the next free one to an interactive call, not to its own
next line.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ...core.types import PRIORITY_RANK

__all__ = ["PrioritySlots"]


class PrioritySlots:
    """At most ``limit`` holders at once; ``hold(priority)`` waits its turn.

    >>> slots = PrioritySlots(2)
    >>> async def call():                                  # doctest: +SKIP
    ...     async with slots.hold("interactive"):
    ...         ...
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, fut in self._waiters if not fut.done())

    async def acquire(self, priority: str = "bulk") -> None:
        if self.in_use < self.limit and not self.waiting:
            self.in_use += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (PRIORITY_RANK.get(priority, 2), next(self._seq), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            raise

    def release(self) -> None:
        """Give the slot to the best waiter, or free it."""
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the slot passes on; in_use is unchanged
                return
        self.in_use -= 1

    @asynccontextmanager
    async def hold(self, priority: str = "bulk") -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()
