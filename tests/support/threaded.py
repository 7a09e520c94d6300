"""Run an ASGI app on ``127.0.0.1:<free port>`` in a daemon thread.

Same process means live access to the app's state and a start in
milliseconds; the cost is sharing the GIL with the caller, so benchmarks and
heavy load use :mod:`.process` instead.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from llm_magics.server.connection_guard import ConnectionLimits
from llm_magics.server.serving import AppServer, bind_socket, url_for, uvicorn_config

__all__ = ["ThreadedServer"]

T = TypeVar("T")
S = TypeVar("S", bound="ThreadedServer")


class ThreadedServer:
    """One app served by uvicorn in a background thread; ``stop()`` is graceful.

    The simulator and gateway harnesses subclass it; as a context manager it
    starts on entry and stops on exit.

    >>> with ThreadedServer(app) as server:           # doctest: +SKIP
    ...     server.base_url
    'http://127.0.0.1:40321/v1'
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_exit: Callable[[], None] | None = None,
        name: str = "llm-magics-server",
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.on_exit = on_exit
        self.name = name
        self.limits = limits
        self._server: AppServer | None = None
        self._thread: threading.Thread | None = None

    def start(self: S, timeout: float = 10.0) -> S:
        if self._thread is not None:
            return self
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        server = AppServer(uvicorn_config(self.app, in_process=True, limits=self.limits),
                           self.on_exit)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.name} thread failed to start; see the log above")
            time.sleep(0.005)
        atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down gracefully; held requests are released, then tasks are cancelled."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.request_exit()
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._server = self._thread = None
        atexit.unregister(self.stop)

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        """The server root."""
        return url_for(self.host, self.port)

    @property
    def base_url(self) -> str:
        """What to pass as an OpenAI client's ``base_url``."""
        return self.url + "/v1"

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._server.loop if self._server is not None else None

    def connection_classes(self) -> set[type]:
        """The protocol classes of the connections open right now (uvicorn's own record)."""
        server = self._server
        if server is None:
            return set()
        return self.on_loop(lambda: {type(c) for c in server.server_state.connections})

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's event loop, where the app's state is mutated.

        Reading counters from another thread while requests update them could
        hit a dict mid-resize; hopping onto the loop makes every read consistent.
        """
        loop = self.loop
        if loop is None or loop.is_closed() or not self.running:
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)
