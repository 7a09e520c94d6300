"""uvicorn plumbing shared by every server here (simulator, gateway), in a thread or a process.

We bind the listening socket ourselves before uvicorn starts so the real port
of ``--port 0`` is known at once and can be announced; the socket is already
listening, so a client that connects right after the announcement is queued,
never refused.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from .connection_guard import ConnectionLimits

__all__ = ["BACKLOG", "AppServer", "bind_socket", "url_for", "uvicorn_config", "exit_with_parent"]

BACKLOG = 2048


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets
    # whose proto says TCP, and without it every keep-alive response waits ~40 ms
    # (Nagle against the client's delayed ACK) between its header and body writes.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class AppServer(uvicorn.Server):
    """uvicorn's server that tells the app it is closing before draining connections.

    ``on_exit`` runs as soon as shutdown is asked for: without it, requests held
    open on purpose (the simulator's hangs, a gateway stream) would hold
    shutdown until the graceful timeout; with it they give up on their next poll.
    """

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.on_exit = on_exit
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        """uvicorn's tick loop, but woken at once by :meth:`request_exit`.

        The stock loop polls ``should_exit`` every 100 ms; a test suite that
        starts and stops a server per test would spend seconds just waiting.
        """
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864_000
            try:
                await asyncio.wait_for(self._wake.wait(), 0.1)
            except asyncio.TimeoutError:
                pass
            should_exit = await self.on_tick(counter)

    def _closing(self) -> None:
        if self.on_exit is not None:
            self.on_exit()

    def request_exit(self) -> None:
        """Ask the server to stop; safe to call from any thread."""
        self._closing()
        self.should_exit = True
        loop, wake = self.loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # loop already closed
                pass

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._closing()
        await super().shutdown(sockets)


def uvicorn_config(app: Any, *, log_level: str = "warning", in_process: bool,
                   limits: ConnectionLimits | None = None) -> uvicorn.Config:
    """Fast, quiet settings: no access log, uvloop/httptools when installed.

    ``X-Forwarded-*`` headers are not read (uvicorn trusts them from loopback by
    default): nothing here uses the client's address or scheme, and a layer that
    rewrites them for every request costs time and could only be spoofed.

    In-process we leave the host's logging alone (``log_config=None``); a
    separate process gets uvicorn's own console format. ``limits`` (a shared
    server such as the gateway) bounds header time, idle time and connections.
    """
    kwargs: dict[str, Any] = {"http": "auto", "timeout_keep_alive": 30}
    if limits is not None:
        kwargs.update(limits.uvicorn_options())
    if in_process:
        kwargs["log_config"] = None
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        loop="auto",
        backlog=BACKLOG,
        timeout_graceful_shutdown=2,
        server_header=False,
        proxy_headers=False,
        **kwargs,
    )


def _exit_when_stdin_closes() -> None:
    """Parent gone (pipe closed) -> shut down like on Ctrl-C, so no orphan keeps the port."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def exit_with_parent() -> None:
    """Watch stdin in a daemon thread: a server started as a child dies with its parent."""
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
