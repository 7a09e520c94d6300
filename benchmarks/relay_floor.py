"""The least a Python hop can add: a relay that forwards bytes and checks nothing.

The gateway's added time to first token is measured against this floor in the
same run (``python -m benchmarks.gateway_ttft``): same server stack (uvicorn
with uvloop and httptools, ``TCP_NODELAY`` socket), same pooled aiohttp client
upstream, but no key check, no body limits or JSON parsing, no model lookup,
limiter, breaker or SSE re-framing: the request body goes upstream as it came and
each upstream chunk goes to the client as it arrives. What the gateway adds
beyond this relay is its policy work; what the relay adds is the hop itself.

    python -m benchmarks.relay_floor --upstream http://127.0.0.1:8000/v1 --port 0
"""

from __future__ import annotations

import argparse
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from llm_magics.server.serving import (
    AppServer,
    bind_socket,
    exit_with_parent,
    url_for,
    uvicorn_config,
)
from tests.support.process import ServerProcess

BANNER = "relay floor listening on {url}/v1"
LISTENING = re.compile(r"relay floor listening on (http://\S+)/v1")


def relay_app(upstream: str) -> Any:
    """An ASGI app that sends every POST to ``upstream`` + its path after ``/v1``."""
    session: aiohttp.ClientSession | None = None

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        nonlocal session
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        try:
            yield
        finally:
            await session.close()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            async with lifespan():
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
            assert message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]
                   if k in (b"authorization", b"content-type")}
        assert session is not None
        url = upstream + scope["path"].removeprefix("/v1")
        async with session.post(url, data=body, headers=headers) as answer:
            await send({"type": "http.response.start", "status": answer.status,
                        "headers": [(b"content-type",
                                     answer.headers.get("content-type", "").encode())]})
            async for chunk in answer.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


class RelayFloorProcess(ServerProcess):
    """This module as a child process, for a benchmark's ``with`` block."""

    def __init__(self, upstream: str) -> None:
        super().__init__("benchmarks.relay_floor",
                         ["--upstream", upstream, "--port", "0", "--exit-with-parent"],
                         listening=LISTENING, name="relay floor")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="base URL ending in /v1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-with-parent", action="store_true")
    args = parser.parse_args(argv)
    sock = bind_socket(args.host, args.port)
    server = AppServer(uvicorn_config(relay_app(args.upstream.rstrip("/")),
                                      in_process=False))
    if args.exit_with_parent:
        exit_with_parent()
    print(BANNER.format(url=url_for(args.host, sock.getsockname()[1])), flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
