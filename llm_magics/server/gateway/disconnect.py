"""Stop working for a client that has gone away.

A request queued behind the rate limiter can wait a long time; if its client
hangs up meanwhile, sending it upstream anyway would spend a slot of the
shared budget on an answer nobody reads. Racing the work against the ASGI
``http.disconnect`` message cancels it instead (and a cancelled waiter leaves
the limiter's queue without taking capacity).
"""

from __future__ import annotations

import asyncio
import contextlib
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
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise ClientGone
