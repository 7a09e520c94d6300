"""A response head sent in the same TCP segment as the start of its body.

uvicorn writes a response's status line and headers as soon as the app starts
the response, and the body as a second write: two sends, two segments, and a
client that wakes for the head only to wait again for the body. A gateway
stream starts its response when the first token is in hand, so the head and
the first frame are ready together; :class:`HeadWithBody` holds the head until
the next write (in the same loop step) or, at the latest, the next loop turn,
and sends both at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["HeadWithBody"]

_HEAD = b"HTTP/"


class HeadWithBody:
    """``transport`` with each response head held for the write that follows it.

    Every other method is the wrapped transport's own; ``close`` sends a held
    head first, so nothing written is lost or reordered.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data.startswith(_HEAD):
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():  # else the peer is gone
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
