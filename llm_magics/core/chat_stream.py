"""One chat-completions stream, read off the raw HTTP response so that nothing received is lost.

The SDK's stream classes end quietly when a body stops early (no
``finish_reason``, no ``[DONE]``), so a cut answer looked finished. And with
the aiohttp transport, bytes that arrived just before a connection broke are
dropped when nobody was waiting on the socket at that moment (its reader raises
the error before handing out what it buffered). Here a pump task waits on the
body all the time and queues what arrives; the consumer decodes the frames
itself (``core.sse``) and sees the error that ended the body only after every
byte before it.

    reader = await open_chat_stream(body, priority, endpoint, settings)
    await read_until_text(reader, progress, next_chunk)    # what one attempt covers
    while (chunk := await next_chunk(reader)) is not None:
        text = progress.add(chunk)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

from .. import errors
from .answer import StreamProgress
from .bounds import Deadline, within
from .client import translate_error
from .constants import STREAM_DRAIN_S
from .endpoint import Endpoint
from .jsoncodec import decode_json
from .settings import Settings
from .sse import DONE, SSEDecoder, SSEEvent
from .wire import open_chat

__all__ = ["ChatStream", "open_chat_stream", "chunk_reader", "read_until_text"]

NextChunk = Callable[["ChatStream"], Awaitable["dict[str, Any] | None"]]

_END = object()
_HEAD_BYTES = 200  # kept from the start of a body, to show what a non-SSE answer was


async def open_chat_stream(body: dict[str, Any], priority: str, endpoint: Endpoint,
                           settings: Settings) -> ChatStream:
    """Send a streaming request; status errors (429, 5xx...) are raised here, translated."""
    return ChatStream(await open_chat(body, priority, endpoint, settings), endpoint)


class ChatStream:
    """The chunks of one streamed answer, as JSON objects, in order."""

    def __init__(self, response: Any, endpoint: Endpoint) -> None:
        self.response = response
        self.endpoint = endpoint
        self.done = False  # ``[DONE]`` arrived: the server says the stream is complete
        self.events = 0
        self._ended = False
        self._head = b""
        self._decoder = SSEDecoder()
        self._pending: deque[SSEEvent] = deque()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._pump = asyncio.get_running_loop().create_task(self._read_body())

    @property
    def headers(self) -> Any:
        return self.response.headers

    async def _read_body(self) -> None:
        try:
            async for data in self.response.aiter_bytes():
                self._queue.put_nowait(data)
        except Exception as err:  # noqa: BLE001 - handed to the consumer after the bytes
            self._queue.put_nowait(err)
        else:
            self._queue.put_nowait(_END)

    async def next_chunk(self) -> dict[str, Any] | None:
        """The next chunk object, or None once the body ended or ``[DONE]`` came."""
        while not self._pending:
            if self._ended:
                return None
            item = await self._queue.get()
            if isinstance(item, bytes):
                if len(self._head) < _HEAD_BYTES:
                    self._head += item[:_HEAD_BYTES - len(self._head)]
                self._pending.extend(self._decoder.feed(item))
                continue
            self._ended = True
            if item is not _END:
                raise translate_error(item, self.endpoint)
        event = self._pending.popleft()
        self.events += 1
        if event.data == DONE:
            self.done = self._ended = True
            self._pending.clear()
            return None
        return self._parse(event.data)

    def _parse(self, data: str) -> dict[str, Any]:
        try:
            chunk = decode_json(data)
        except ValueError:
            raise self._server_error(f"sent a chunk that is not JSON: {data[:80]!r}") from None
        if not isinstance(chunk, dict):
            raise self._server_error(f"sent {data[:80]!r}, not a chunk")
        problem = chunk.get("error")
        if problem:
            detail = problem.get("message") if isinstance(problem, dict) else problem
            raise self._server_error(f"reported an error: {detail}")
        return chunk

    def unfinished(self) -> errors.ServerError:
        """The error for an answer that ended without a ``finish_reason``."""
        if self.events:
            return self._server_error("ended without a finish_reason")
        kind = self.headers.get("content-type") or "no content type"
        return self._server_error(
            f"answered a stream request with something that is not server-sent events "
            f"({kind}): {self._head.decode('utf-8', 'replace')[:120]!r}")

    def _server_error(self, what: str) -> errors.ServerError:
        # Through translate_error, so a server that echoes the key never shows it.
        err = errors.ServerError(f"The stream from {self.endpoint.base_url} {what}.")
        return cast(errors.ServerError, translate_error(err, self.endpoint))

    async def aclose(self) -> None:
        """Release the connection: after ``[DONE]`` the body ends, so wait briefly for that
        (an HTTP/1.1 connection is only reused once its body was read to the end).

        The response is closed whatever happens meanwhile: a relay calls this from a task
        that is being cancelled (its client left), and an aiohttp connection whose reader
        was only cancelled would keep the upstream answer running."""
        try:
            if self.done and not self._pump.done():
                await asyncio.wait([self._pump], timeout=STREAM_DRAIN_S)
            self._pump.cancel()
            await asyncio.wait([self._pump])  # never raises the pump's end; ours still does
        finally:
            await self.response.aclose()


def chunk_reader(settings: Settings, deadline: Deadline, endpoint: Endpoint) -> NextChunk:
    """``await next_chunk(reader)``: the next chunk within stream_idle_timeout and the deadline."""
    idle = settings.stream_idle_timeout

    def idle_error() -> errors.APITimeoutError:
        return errors.APITimeoutError(
            f"The stream from {endpoint.base_url} sent nothing for {idle:g}s "
            "(stream_idle_timeout). Raise stream_idle_timeout if the model pauses that long."
        )

    def next_chunk(reader: ChatStream) -> Awaitable[dict[str, Any] | None]:
        return within(reader.next_chunk(), deadline=deadline, timeout=idle,
                      waiting_for="the rest of the stream", on_timeout=idle_error)

    return next_chunk


async def read_until_text(reader: ChatStream, progress: StreamProgress,
                          next_chunk: NextChunk) -> None:
    """Read up to the first text (or the finish): the part of a stream one attempt covers.

    A stream that ends before either is a ``ServerError``, so the attempt is
    retried (nothing was shown yet); the reader is closed on any failure.
    """
    try:
        while not progress.parts:
            chunk = await next_chunk(reader)
            if chunk is None:
                if progress.finish_reason is None:
                    raise reader.unfinished()
                return
            progress.add(chunk)
    except BaseException:
        await reader.aclose()
        raise
