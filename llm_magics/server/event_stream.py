"""A ``text/event-stream`` response that always runs its ``on_close``, however it ends."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .disconnect import ClientGone, unless_disconnected

__all__ = ["EventStream"]


class EventStream(StreamingResponse):
    """Server-sent events from ``content``; ``on_close`` (sync or async) runs at the end.

    The body iterator is cancelled when the client disconnects, and a
    response may end before it ever started; what the stream holds (an upstream
    stream, a concurrency slot, an in-flight count) must still be released, so
    ``on_close`` runs in every case, shielded from that cancellation.

    ``first``, a frame already in hand, is written with the response head.
    The frames are relayed in the request's own task while a watcher waits for
    the client to leave (``unless_disconnected``), rather than in Starlette's
    task group of two new tasks: a frame reaches the socket in the step that
    made it.
    """

    def __init__(self, content: AsyncIterator[bytes],
                 on_close: Callable[[], Awaitable[None] | None],
                 headers: Mapping[str, str], first: bytes | None = None) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._on_close = on_close
        self._first = first

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            if self._first:
                await send({"type": "http.response.body", "body": self._first,
                            "more_body": True})
            try:
                await unless_disconnected(receive, self._relay(send))
            except (ClientGone, OSError):  # OSError: a write to a closed connection
                return
        finally:
            with anyio.CancelScope(shield=True):
                closed = self._on_close()
                if inspect.isawaitable(closed):
                    await closed

    async def _relay(self, send: Send) -> None:
        async for chunk in self.body_iterator:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
