"""A misbehaving HTTP server on a raw asyncio socket, so fixes are not tuned to our simulator.

Each connection gets the request read up to the end of its headers (and its
body, by Content-Length), then ``behaviour(writer)`` decides what the client
sees: nothing at all, headers then silence, a whole response, or whatever a
test writes before it cuts the connection.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Awaitable, Callable

Behaviour = Callable[[asyncio.StreamWriter], Awaitable[None]]

SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n")
JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n"


def chunked(data: bytes) -> bytes:
    """One HTTP/1.1 chunk carrying ``data``."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def sse_chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "raw",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def never_answer(writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()  # until the server stops


def headers_then_stall(head: bytes) -> Behaviour:
    async def behaviour(writer: asyncio.StreamWriter) -> None:
        writer.write(head)
        await writer.drain()
        await asyncio.Event().wait()

    return behaviour


def respond(payload: bytes) -> Behaviour:
    """Write ``payload`` (a whole response) and close the connection cleanly, saying so
    (``connection: close``, as an HTTP/1.1 server that closes must): without it a client may
    pool the connection and lose its next request to the close (what ``KeepAliveServer``
    tests on purpose)."""
    payload = _closing(payload)

    async def behaviour(writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        writer.close()

    return behaviour


def _closing(payload: bytes) -> bytes:
    head, sep, rest = payload.partition(b"\r\n\r\n")
    if not payload.startswith(b"HTTP/") or not sep or b"\nconnection:" in head.lower():
        return payload
    status_line, _, headers = head.partition(b"\r\n")
    status = status_line.split(b" ")[1:2]
    if status and status[0].startswith(b"1"):  # an interim answer (100 Continue): mark the next
        return head + sep + _closing(rest)
    closing = status_line + b"\r\nconnection: close" + (b"\r\n" + headers if headers else b"")
    return closing + sep + rest


def json_response(obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode() + body)


class RawHTTPServer:
    """``with RawHTTPServer(behaviour) as server:`` then use ``server.base_url``."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _read_request(self, reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        self.requests += 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await self._serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._read_request(reader)
        await self.behaviour(writer)

    def __enter__(self) -> RawHTTPServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


Reply = Callable[[int, int], "bytes | None"]


class KeepAliveServer(RawHTTPServer):
    """Many requests per connection: ``reply(connection, nth)`` (both counted from 1) is the
    response to the nth request on that connection; None closes it without an answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(never_answer)
        self.reply = reply
        self.connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        for nth in itertools.count(1):
            await self._read_request(reader)
            payload = self.reply(connection, nth)
            if payload is None:
                return
            writer.write(payload)
            await writer.drain()
