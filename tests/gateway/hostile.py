"""A hostile client's tools: raw sockets that trickle or stall, and an upstream that lies.

The SDK and httpx are polite (whole requests, at once); the attacks on a
shared gateway are not, so these speak HTTP/1.1 by hand.
"""

from __future__ import annotations

import asyncio
import json
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

KEY_A = "sk-tenant-a-0123456789"
KEY_B = "sk-tenant-b-9876543210"
UPSTREAM_KEY = "sk-upstream-secret-key-42"


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def connect(url: str) -> socket.socket:
    sock = socket.create_connection(address(url), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def closed_by_peer(sock: socket.socket, wait_s: float) -> bool:
    """Whether the peer closed the connection within ``wait_s`` (reads and drops any answer)."""
    deadline = time.monotonic() + wait_s
    with selectors.DefaultSelector() as selector:  # select() fails past descriptor 1023
        selector.register(sock, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if selector.select(left):
                try:
                    if not sock.recv(65536):
                        return True
                except (ConnectionResetError, BrokenPipeError):
                    return True
    return False


def trickle_until_closed(sock: socket.socket, lines: int = 100, every_s: float = 0.2) -> bool:
    """Send one header line every ``every_s``; whether the peer closed before ``lines`` went."""
    for i in range(lines):
        try:
            sock.sendall(f"x-trickle-{i}: y\r\n".encode())
        except OSError:
            return True
        if closed_by_peer(sock, wait_s=every_s):
            return True
    return False


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (status, lower-cased headers, body) read off a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextmanager
def lying_upstream(model: str = "liar-1", listing: bool = True) -> Iterator[str]:
    """An OpenAI-ish upstream whose chat errors repeat its own URL and the key it was sent.

    A real server may echo anything in an error; the gateway must not pass
    its address or its key on to clients. Without ``listing`` its
    ``/v1/models`` is a 404 (some servers have none), so the gateway cannot
    check model names. Yields its base URL.
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (x.partition(":")
                                                                 for x in lines[1:] if x)}
                await reader.readexactly(int(headers.get("content-length", "0")))
                if lines[0].startswith("GET /v1/models") and not listing:
                    status, body = 404, {"error": {"message": "no such route"}}
                elif lines[0].startswith("GET /v1/models"):
                    status, body = 200, {"object": "list", "data": [
                        {"id": model, "object": "model", "created": 0, "owned_by": "liar"}]}
                else:
                    status, body = 400, {"error": {
                        "message": f"bad request at {holder['url']} from "
                                   f"{headers.get('authorization')}",
                        "type": "invalid_request_error", "param": None, "code": None}}
                payload = json.dumps(body).encode()
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                             f"content-length: {len(payload)}\r\n\r\n".encode() + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        holder["url"] = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        holder["server"] = server
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    assert ready.wait(10)
    try:
        yield str(holder["url"])
    finally:
        server = holder["server"]
        loop.call_soon_threadsafe(server.close)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
