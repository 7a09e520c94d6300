"""Stop working for a client that has gone away.

A gateway request queued behind the rate limiter can wait a long time; if its
client hangs up meanwhile, sending it upstream anyway would spend a slot of the
shared budget on an answer nobody reads, and a stream relayed to nobody holds
its upstream request. A watcher waits for the ASGI ``http.disconnect`` message
and cancels the work when it comes (a cancelled waiter leaves the limiter's
queue without taking capacity). The work itself runs in the request's own
task: no second task, and no loop turn between the answer and the response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

__all__ = ["ClientGone", "unless_disconnected"]

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before the answer was ready."""


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """``await work``, or cancel it and raise :class:`ClientGone` if the client leaves first.

    Call only after the request body has been read: the next ASGI message is
    then the disconnect, if it ever comes.
    """
    task = asyncio.current_task()
    assert task is not None, "unless_disconnected runs in a task"
    gone = False

    def client_left(watcher: asyncio.Future[None]) -> None:
        nonlocal gone
        if not watcher.cancelled():
            watcher.exception()  # a receive that failed also means the client is not there
            gone = True
            task.cancel()

    watcher = asyncio.ensure_future(_disconnected(receive))
    watcher.add_done_callback(client_left)
    try:
        return await work
    except asyncio.CancelledError:
        # Ours only if the watcher cancelled and nobody else (a server shutdown) did too.
        if not gone or (hasattr(task, "uncancel") and task.uncancel() > 0):
            raise
        raise ClientGone from None
    finally:
        watcher.remove_done_callback(client_left)
        watcher.cancel()
