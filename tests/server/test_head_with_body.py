"""``HeadWithBody`` on a real loopback connection: what reaches the socket, and in what order.

The wrapped transport is the event loop's own; ``Sends`` only counts the
writes that reach it (each one a send on the socket), so a test can tell one
send from two, which the receiving side cannot (it may read both at once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from llm_magics.server.head_with_body import HeadWithBody

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"
FRAME = b"1a\r\ndata: {\"content\":\"hi\"}\n\n\r\n"


class Sends:
    """The loop's transport, with each write it is given recorded."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def _over_loopback(serve: Callable[[HeadWithBody], Awaitable[None]]
                   ) -> tuple[list[bytes], bytes]:
    """Run ``serve`` on the server side of one connection: the sends, and what the peer read."""
    async def scenario() -> tuple[list[bytes], bytes]:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[Sends] = loop.create_future()

        class Server(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                accepted.set_result(Sends(transport))

        server = await loop.create_server(Server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sends = await accepted
        await serve(HeadWithBody(sends, loop))  # type: ignore[arg-type]
        try:
            received = await reader.read()  # to the end: ``serve`` closes
        except ConnectionResetError:  # ``serve`` aborted
            received = b""
        writer.close()
        server.close()
        await server.wait_closed()
        return sends.writes, received

    return asyncio.run(scenario())


def test_a_head_and_the_body_after_it_go_in_one_send() -> None:
    async def serve(transport: HeadWithBody) -> None:
        transport.write(HEAD)
        transport.write(FRAME)
        transport.write(b"0\r\n\r\n")
        transport.close()

    writes, received = _over_loopback(serve)
    assert writes == [HEAD + FRAME, b"0\r\n\r\n"]
    assert received == HEAD + FRAME + b"0\r\n\r\n"


def test_a_head_alone_goes_out_on_the_next_loop_turn() -> None:
    async def serve(transport: HeadWithBody) -> None:
        transport.write(HEAD)
        await asyncio.sleep(0)  # a body that is not ready yet
        sent_alone = list(transport._transport.writes)  # type: ignore[attr-defined]
        transport.write(FRAME)
        transport.close()
        assert sent_alone == [HEAD]

    writes, received = _over_loopback(serve)
    assert writes == [HEAD, FRAME]
    assert received == HEAD + FRAME


def test_closing_sends_a_held_head_first() -> None:
    async def serve(transport: HeadWithBody) -> None:
        transport.write(HEAD)
        transport.close()

    writes, received = _over_loopback(serve)
    assert writes == [HEAD]
    assert received == HEAD


def test_a_head_held_when_the_connection_is_aborted_is_dropped() -> None:
    async def serve(transport: HeadWithBody) -> None:
        transport.write(HEAD)
        transport.abort()  # the peer reset, or the server gave up on it
        await asyncio.sleep(0)  # the turn on which a held head would go out

    writes, received = _over_loopback(serve)
    assert writes == []
    assert received == b""
