"""Run the simulator from Python: in a background thread, or as a separate process.

:class:`Simulator` is the light choice for tests: same process, live access to
state, starts in milliseconds. Its server shares the GIL with the client under
test, so for benchmarks and heavy load use :class:`SimulatorProcess`, which
runs ``python -m llm_magics.server.sim`` and talks to it over the ``/_sim``
control endpoints. Both clean up on ``__exit__``, on ``stop()`` and at
interpreter exit; the child process also exits by itself if its parent dies
(it watches its stdin pipe).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from .app import create_app
from .config import SimConfig
from .serving import SimServer, bind_socket, url_for, uvicorn_config

T = TypeVar("T")

LISTENING = re.compile(r"llm-magics sim listening on (http://\S+)/v1")


def _build_config(config: SimConfig | None, switches: dict[str, Any]) -> SimConfig:
    base = config or SimConfig()
    return base.updated(**switches) if switches else base


class Simulator:
    """The simulator on ``127.0.0.1:<free port>`` in a daemon thread.

    >>> with Simulator(answer_tokens=8, rpm=60) as sim:
    ...     client = OpenAI(base_url=sim.base_url, api_key="sk-test")
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **switches: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.app = create_app(_build_config(config, switches))
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 10.0) -> Simulator:
        if self._thread is not None:
            return self
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        server = SimServer(uvicorn_config(self.app, in_process=True), self.app.sim)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"llm-magics-sim-{self.port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator thread failed to start; see the log above")
            time.sleep(0.005)
        atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down gracefully; hung requests are released, then tasks are cancelled."""
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

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------- access

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        """Server root, where ``/_sim/*`` lives."""
        return url_for(self.host, self.port)

    @property
    def base_url(self) -> str:
        """What to pass as the OpenAI client's ``base_url``."""
        return self.url + "/v1"

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's event loop, where the state is mutated.

        Reading counters from another thread while requests update them could
        hit a dict mid-resize; hopping onto the loop makes every read consistent.
        """
        loop = self._server.loop if self._server is not None else None
        if loop is None or loop.is_closed() or not self.running:
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    @property
    def config(self) -> SimConfig:
        return self.app.sim.config

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (see ``GET /_sim/stats``)."""
        return self._on_loop(self.app.sim.stats.snapshot)

    def configure(self, **switches: Any) -> SimConfig:
        """Change switches live; raises ``ValueError`` for unknown names or bad values."""
        return self._on_loop(lambda: self.app.sim.configure(**switches))

    def reset_stats(self) -> None:
        """Zero the counters (limits, dice and switches untouched)."""
        self._on_loop(lambda: self.app.sim.reset("stats"))

    def reset(self, scope: str = "all") -> None:
        """``run``: counters, rate-limit windows, fault dice; ``all``: also the switches."""
        self._on_loop(lambda: self.app.sim.reset(scope))


def config_to_args(config: SimConfig) -> list[str]:
    """CLI flags reproducing ``config`` (only fields that differ from the defaults)."""
    defaults = SimConfig().as_dict()
    args: list[str] = []
    for name, value in config.as_dict().items():
        if name == "api_key":
            value = config.api_key
        if value == defaults[name]:
            continue
        if isinstance(value, list):
            text = ",".join(value)
        elif value is None:
            text = "none"
        else:
            text = str(value)
        args += [f"--{name.replace('_', '-')}", text]
    return args


def _package_root() -> str:
    """The directory holding ``llm_magics``, so the child imports this very code."""
    return str(Path(__file__).resolve().parents[3])


class SimulatorProcess:
    """The simulator as a child process (its own GIL), controlled over HTTP.

    >>> with SimulatorProcess(latency_s=0.05) as sim:
    ...     sim.configure(error_rate=0.1)
    ...     print(sim.stats["chat_requests"])
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        python: str | None = None,
        startup_timeout: float = 30.0,
        **switches: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.python = python or sys.executable
        self.startup_timeout = startup_timeout
        self.initial_config = _build_config(config, switches)
        self.url: str = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._http: httpx.Client | None = None

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        return [
            self.python, "-m", "llm_magics.server.sim",
            "--host", self.host, "--port", str(self.port), "--exit-with-parent",
            *config_to_args(self.initial_config),
        ]

    def start(self) -> SimulatorProcess:
        if self.proc is not None:
            return self
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_package_root(), env.get("PYTHONPATH")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        atexit.register(self.stop)
        lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=_pump, args=(self.proc.stdout, lines.put), daemon=True).start()
        err_pump = threading.Thread(
            target=_pump, args=(self.proc.stderr, self._keep_stderr), daemon=True
        )
        err_pump.start()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:  # EOF or timeout
                if self.proc.poll() is None:
                    self.proc.kill()
                self.proc.wait()
                err_pump.join(2.0)  # the reason is on stderr; read it before closing pipes
                self.stop()
                raise RuntimeError(
                    "the simulator process did not report its port:\n" + self.stderr_tail
                )
            match = LISTENING.search(line)
            if match:
                self.url = match.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
                break
        self._http = httpx.Client(base_url=self.url, timeout=10.0)
        return self

    def _keep_stderr(self, line: str | None) -> None:
        if line is not None:
            self._stderr_tail.append(line)

    @property
    def stderr_tail(self) -> str:
        return "".join(self._stderr_tail)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (graceful), then SIGKILL if needed; returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if self._http is not None:
            self._http.close()
            self._http = None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        atexit.unregister(self.stop)
        return proc.returncode

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------- control

    def _client(self) -> httpx.Client:
        if self._http is None:
            raise RuntimeError("the simulator process is not running; call start()")
        return self._http

    @property
    def stats(self) -> dict[str, Any]:
        response = self._client().get("/_sim/stats")
        response.raise_for_status()
        return response.json()

    @property
    def config(self) -> dict[str, Any]:
        response = self._client().get("/_sim/config")
        response.raise_for_status()
        return response.json()

    def configure(self, **switches: Any) -> dict[str, Any]:
        response = self._client().post("/_sim/config", json=switches)
        if response.status_code == 400:
            raise ValueError(response.json()["error"]["message"])
        response.raise_for_status()
        return response.json()

    def reset_stats(self) -> None:
        """Zero the counters (limits, dice and switches untouched)."""
        self.reset("stats")

    def reset(self, scope: str = "all") -> None:
        """``run``: counters, rate-limit windows, fault dice; ``all``: also the switches."""
        self._client().post("/_sim/reset", params={"scope": scope}).raise_for_status()


def _pump(stream: IO[bytes], sink: Any) -> None:
    """Copy a child's output lines to ``sink``, then ``None`` on EOF (keeps pipes drained)."""
    try:
        for raw in iter(stream.readline, b""):
            sink(raw.decode("utf-8", "replace"))
    except (OSError, ValueError):
        pass
    finally:
        sink(None)
