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
from .client import status_error, translate_error
from .constants import STREAM_DRAIN_S
from .endpoint import Endpoint
from .jsoncodec import decode_json, encode_json
from .settings import Settings
from .sse import DONE, SSEDecoder, SSEEvent
from .wire import error_body, open_chat

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
        # Some servers ignore ``stream`` and answer with one JSON body: kept whole, read at its end.
        self._json: bytearray | None = bytearray() if _is_json(self.headers) else None
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
                self._take(item)
                continue
            self._ended = True
            if item is not _END:
                raise translate_error(item, self.endpoint)
            self._pending.extend(self._at_end())
        event = self._pending.popleft()
        self.events += 1
        if event.data == DONE:
            self.done = self._ended = True
            self._pending.clear()
            return None
        if event.event == "error":
            raise self._reported(error_body(event.data))
        return self._parse(event.data)

    def _take(self, data: bytes) -> None:
        if len(self._head) < _HEAD_BYTES:
            self._head += data[:_HEAD_BYTES - len(self._head)]
        if self._json is not None:
            self._json += data
            start = self._json.lstrip()[:1]
            if not start or start == b"{":
                return
            data, self._json = bytes(self._json), None  # labelled JSON, but events after all
        self._pending.extend(self._decoder.feed(data))

    def _at_end(self) -> list[SSEEvent]:
        """What the body said once it ended cleanly: its last event, or its JSON answer."""
        if self._json is not None:
            return _answer_as_events(bytes(self._json))
        return [event for event in self._decoder.end() if _whole(event)]

    def _parse(self, data: str) -> dict[str, Any]:
        try:
            chunk = decode_json(data)
        except ValueError:
            raise self._server_error(f"sent a chunk that is not JSON: {data[:80]!r}") from None
        if not isinstance(chunk, dict):
            raise self._server_error(f"sent {data[:80]!r}, not a chunk")
        problem = chunk.get("error")
        if problem:
            raise self._reported(problem)
        return chunk

    def _reported(self, problem: object) -> errors.LLMError:
        """An error the server sent inside the stream, raised as the status it names would be
        (a 429 is a ``RateLimitError``, a 400 is not retried), else as a ``ServerError``."""
        status = _status_named(problem)
        if status is None:
            detail = problem.get("message") if isinstance(problem, dict) else problem
            return self._server_error(f"reported an error: {detail}")
        return translate_error(status_error(status, self.headers, problem, self.endpoint),
                               self.endpoint)

    def unfinished(self) -> errors.ServerError:
        """The error for an answer that ended without a ``finish_reason``."""
        if self.events:
            return self._server_error("ended without a finish_reason")
        if not self._head:  # llama.cpp's Python server refuses an over-long prompt this way
            return self._server_error(
                "ended before it sent anything (an empty body). Some servers answer a stream "
                "request they refuse like this (a prompt longer than the model's context): "
                "send it without streaming to see the server's reason")
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


_STATUS_BY_TYPE = {
    "invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
    "not_found_error": 404, "rate_limit_error": 429, "rate_limit_exceeded": 429,
    "server_error": 500, "overloaded_error": 503,
}
"""Error ``type``/``code`` names OpenAI-compatible servers put in a stream, as HTTP statuses."""


def _status_named(problem: object) -> int | None:
    """The HTTP status an in-stream error names (vLLM, LiteLLM: ``code``; OpenAI: ``type``)."""
    if not isinstance(problem, dict):
        return None
    for key in ("code", "status", "status_code"):
        value = str(problem.get(key))
        if value.isdigit() and 400 <= int(value) < 600:
            return int(value)
    for key in ("type", "code"):
        status = _STATUS_BY_TYPE.get(str(problem.get(key)))
        if status is not None:
            return status
    return None


def _is_json(headers: Any) -> bool:
    kind = headers.get("content-type") or ""
    return kind.split(";")[0].strip().lower() == "application/json"


def _whole(event: SSEEvent) -> bool:
    """Whether an event the body's end left open is whole: a cut JSON object never parses."""
    if event.data == DONE:
        return True
    try:
        return isinstance(decode_json(event.data), dict)
    except ValueError:
        return False


def _answer_as_events(body: bytes) -> list[SSEEvent]:
    """A JSON body sent for a stream request, as the events of a finished stream.

    A ``chat.completion`` becomes one chunk (its message as the delta) then ``[DONE]``:
    the body was read to its end, so it is whole. An ``{"error": ...}`` body is passed
    on as a chunk, to be raised as what it says; anything else gives no event, so the
    stream is reported as not server-sent events.
    """
    try:
        answer = decode_json(body)
    except ValueError:
        return []
    if not isinstance(answer, dict):
        return []
    if answer.get("error"):
        return [SSEEvent(body.decode("utf-8", "replace"))]
    try:
        choice = answer["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        return []
    chunk = {"model": answer.get("model"), "usage": answer.get("usage"),
             "choices": [{"index": 0, "delta": message,
                          "finish_reason": choice.get("finish_reason")}]}
    return [SSEEvent(encode_json(chunk).decode()), SSEEvent(DONE)]


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
