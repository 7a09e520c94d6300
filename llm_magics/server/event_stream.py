"""A ``text/event-stream`` response that always runs its ``on_close``, however it ends."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

__all__ = ["EventStream"]


class EventStream(StreamingResponse):
    """Server-sent events from ``content``; ``on_close`` (sync or async) runs at the end.

    Starlette cancels the body iterator when the client disconnects, and a
    response may end before it ever started; what the stream holds (an upstream
    stream, a concurrency slot, an in-flight count) must still be released, so
    ``on_close`` runs in every case, shielded from that cancellation.
    """

    def __init__(self, content: AsyncIterator[bytes],
                 on_close: Callable[[], Awaitable[None] | None],
                 headers: Mapping[str, str]) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                closed = self._on_close()
                if inspect.isawaitable(closed):
                    await closed
