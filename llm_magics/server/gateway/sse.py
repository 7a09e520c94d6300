"""Relaying the engine's stream as OpenAI server-sent events, one event per upstream delta.

Nothing is buffered: each text delta the engine yields becomes one
``chat.completion.chunk`` frame and one write to the socket (the listening
socket has ``TCP_NODELAY``). The response does not start before the upstream
has accepted the request, so an upstream that refuses it (404, 429 after
retries, an open breaker) still gets a proper HTTP status instead of a 200
followed by an error event. It starts as soon as the upstream has: the client
reads the head and sets up its stream while the model works on its first token
(with the first token already in hand, head and first frame go in one write).
A stream that breaks after the head was sent ends with an ``{"error": ...}``
event, which the official SDK raises as ``APIError``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ... import errors
from ...core.types import Response
from ..openai_shapes import SSE_DONE, ChunkEncoder, new_id, sse_event, usage_chunk

__all__ = ["SSE_HEADERS", "UpstreamStream", "sse_frames"]

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
"""``x-accel-buffering: no`` tells a reverse proxy in front (nginx) not to buffer either."""


class UpstreamStream:
    """The engine's stream, its first item pulled in a task so the wait can end early.

    ``opened`` is set by the engine's ``on_open`` (the upstream sent a 2xx head)
    or when the first item (or error) came, whichever is first; :meth:`started`
    waits for it. :meth:`items` then yields every item, the first included,
    and :meth:`aclose` ends it however far it got.
    """

    def __init__(self, start: Callable[[Callable[[], None]], AsyncIterator[str | Response]]
                 ) -> None:
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self._stream = start(self._open)
        self.first: asyncio.Future[str | Response] = asyncio.ensure_future(
            self._stream.__anext__())
        self.first.add_done_callback(self._open)  # an item or an error ends the wait too

    def _open(self, _: object = None) -> None:
        if not self.opened.done():
            self.opened.set_result(None)

    async def started(self) -> None:
        await self.opened  # if a client that left cancels it, nothing else waits on it

    async def items(self) -> AsyncIterator[str | Response]:
        yield await self.first
        async for item in self._stream:
            yield item

    async def aclose(self) -> None:
        if not self.first.done():
            self.first.cancel()
            await asyncio.wait((self.first,))
        if not self.first.cancelled():
            self.first.exception()  # seen: an error nobody relayed (the client left) is no bug
        await self._stream.aclose()


async def sse_frames(
    items: AsyncIterator[str | Response],
    *,
    model: str,
    include_usage: bool,
    on_error: Callable[[errors.LLMError], dict[str, Any]],
) -> AsyncIterator[bytes]:
    """Role opener + first delta, then one frame per delta, the finish, usage, ``[DONE]``."""
    encoder = ChunkEncoder(completion_id=new_id("chatcmpl"), model=model,
                           created=int(time.time()), system_fingerprint=None)
    opener = encoder.chunk({"role": "assistant", "content": "", "refusal": None})
    try:
        item = await anext(items)
        if isinstance(item, str):  # opener and first token in one write: no extra round trip
            yield opener + encoder.content(item)
            async for item in items:
                if isinstance(item, Response):
                    break
                yield encoder.content(item)
        else:
            yield opener
        if not isinstance(item, Response):  # the engine always ends with its Response
            raise errors.StreamInterruptedError("The upstream stream ended without a result.")
        yield encoder.chunk({}, item.finish_reason or "stop")
        if include_usage:
            yield sse_event(usage_chunk(
                completion_id=encoder.completion_id, model=item.model or model,
                created=encoder.created, prompt_tokens=item.usage.prompt_tokens,
                completion_tokens=item.usage.completion_tokens, system_fingerprint=None))
        yield SSE_DONE
    except errors.LLMError as err:
        yield sse_event(on_error(err))

