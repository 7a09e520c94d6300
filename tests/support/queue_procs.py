"""Throwaway ``redis-server`` and worker processes, for tests, benchmarks and doc checks.

Like ``SimulatorProcess``, each is a context manager that starts a real
process, waits until it answers, and stops it on exit (and at interpreter
exit). On Linux the children also get ``SIGKILL`` if the process that started
them dies (``PR_SET_PDEATHSIG``), so a killed test run leaves no orphans.
Workers run in their own process group, so ``kill()`` reaches pool children.

    >>> with RedisServer() as redis, WorkerProcess(redis.url, env={...}) as worker:
    ...     queue.map(prompts, redis_url=redis.url, base_url=...)
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any, TypeVar

import redis

from llm_magics.queue.app import make_app
from llm_magics.queue.config import QueueConfig

from .env import on_repo_path, without_settings

__all__ = ["RedisServer", "WorkerProcess", "free_port"]

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Loaded here, not in the child: between fork and exec the child must not dlopen.
_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGKILL it when its parent dies.

    Linux ties this to the parent *thread*: start these processes from a thread
    that outlives them (the main thread, as tests and benchmarks do).
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


C = TypeVar("C", bound="_Child")


class _Child:
    """A process started here: a context manager, also stopped at interpreter exit."""

    proc: subprocess.Popen[bytes] | None
    _log: IO[bytes] | None

    def start(self: C) -> C:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _released(self) -> None:
        """Close the log and forget the exit hook, once the process is gone."""
        if self._log is not None:
            self._log.close()
            self._log = None
        atexit.unregister(self.stop)

    def __enter__(self: C) -> C:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer(_Child):
    """``redis-server`` on a free loopback port, no persistence, in a temporary directory."""

    def __init__(self, port: int | None = None, *, executable: str = "redis-server") -> None:
        self.port = port
        self.executable = executable
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        if self.proc is not None:
            return self
        exe = shutil.which(self.executable)
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server).")
        self.port = self.port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="llm-magics-redis-")
        self._log = open(Path(self._dir.name) / "redis.log", "wb")  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self._dir.name, "--daemonize", "no"],
            stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
        atexit.register(self.stop)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(
                            f"redis-server did not start on port {self.port}") from None
                    time.sleep(0.05)
        finally:
            client.close()
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            _terminate(proc, timeout=5)
        self._released()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


class WorkerProcess(_Child):
    """``python -m llm_magics.queue.worker`` as a child process, ready once it answers a ping.

    ``env`` is added to this process's environment: the worker's key and base
    URL go there (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``), never into tasks.
    ``isolate=True`` drops inherited ``LLM_MAGICS_*`` / ``OPENAI_*`` variables first,
    so only ``env`` configures the worker (tests).
    """

    def __init__(self, redis_url: str, *, concurrency: int = 8, pool: str = "threads",
                 env: dict[str, str] | None = None, loglevel: str = "WARNING",
                 name: str | None = None, config: QueueConfig | None = None,
                 log_path: str | Path | None = None, isolate: bool = False) -> None:
        self.isolate = isolate
        self.redis_url = redis_url
        self.concurrency = concurrency
        self.pool = pool
        self.env = dict(env or {})
        self.loglevel = loglevel
        self.name = name or f"llm-magics-test-{uuid.uuid4().hex[:8]}@localhost"
        self.config = config or QueueConfig.from_env()
        self.log_path = Path(log_path) if log_path else None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "llm_magics.queue.worker",
                "--redis-url", self.redis_url, "--concurrency", str(self.concurrency),
                "--pool", self.pool, "--loglevel", self.loglevel, "--hostname", self.name,
                "--visibility-timeout", str(self.config.visibility_timeout_s),
                "--restore-interval", str(self.config.restore_interval_s)]

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        if self.proc is not None:
            return self
        env = on_repo_path({**(without_settings() if self.isolate else os.environ), **self.env})
        env["PYTHONUNBUFFERED"] = "1"
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen(
            self.command(), env=env, stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL, stderr=self._log or subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
        atexit.register(self.stop)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        app = make_app(self.redis_url, self.config)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    break
                if app.control.ping(destination=[self.name], timeout=0.5):
                    return
        finally:
            app.close()
        self.stop()
        raise RuntimeError(f"worker {self.name} did not answer a ping within {timeout:g}s"
                           + (f"; see {self.log_path}" if self.log_path else ""))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the worker's whole process group (pool children included)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        """Warm shutdown (SIGTERM: running tasks finish), then SIGKILL if it takes too long."""
        proc, self.proc = self.proc, None
        if proc is not None:
            _terminate(proc, timeout=timeout, group=True)
        self._released()


def _terminate(proc: subprocess.Popen[bytes], *, timeout: float, group: bool = False) -> None:
    def send(sig: int) -> None:
        try:
            os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
        except ProcessLookupError:
            pass

    if proc.poll() is None:
        send(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait(timeout)
    elif group:
        send(signal.SIGKILL)  # the leader is gone; make sure no pool child outlives it
