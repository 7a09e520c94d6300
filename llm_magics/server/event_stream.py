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

    ``first``, a frame already in hand, is written with the response head
    before Starlette starts the tasks that relay the rest and watch for a
    disconnect: the client's time to first token does not wait for them.
    """

    def __init__(self, content: AsyncIterator[bytes],
                 on_close: Callable[[], Awaitable[None] | None],
                 headers: Mapping[str, str], first: bytes | None = None) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._on_close = on_close
        self._first = first

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if self._first is not None:
                await self._start(send)
                await send({"type": "http.response.body", "body": self._first,
                            "more_body": True})
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                closed = self._on_close()
                if inspect.isawaitable(closed):
                    await closed

    async def _start(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})

    async def stream_response(self, send: Send) -> None:
        if self._first is None:
            await self._start(send)
        async for chunk in self.body_iterator:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
