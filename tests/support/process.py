"""Run one of our servers as a child process and learn its URL from its first output line.

The child prints ``<name> listening on http://HOST:PORT/v1`` once its socket
accepts connections, so ``--port 0`` works and a caller never races the
start. The child also exits by itself when its parent dies (``--exit-with-parent``
watches the stdin pipe), so a crashed test run leaves no server behind.
"""

from __future__ import annotations

import atexit
import collections
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, TypeVar

from .env import on_repo_path

__all__ = ["ServerProcess"]

S = TypeVar("S", bound="ServerProcess")


class ServerProcess:
    """``python -m MODULE ARGS`` with its port discovered from ``listening``'s first group.

    >>> with ServerProcess("llm_magics.server.sim", ["--port", "0"],
    ...                    listening=re.compile(r"listening on (http://\\S+)/v1")) as p:
    ...     print(p.base_url)                                   # doctest: +SKIP
    """

    def __init__(
        self,
        module: str,
        args: Sequence[str],
        *,
        listening: re.Pattern[str],
        python: str | None = None,
        startup_timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
        name: str = "server",
        cwd: str | None = None,
    ) -> None:
        self.module = module
        self.args = list(args)
        self.listening = listening
        self.python = python or sys.executable
        self.startup_timeout = startup_timeout
        self.extra_env = dict(env or {})
        self.name = name
        self.cwd = cwd  # ``-m`` imports from here first: another checkout runs its own code
        self.url: str = ""
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._stdout_lines: queue.Queue[str | None] = queue.Queue()

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        return [self.python, "-m", self.module, *self.args]

    def child_env(self) -> dict[str, str]:
        env = on_repo_path(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def start(self: S) -> S:
        if self.proc is not None and self.proc.poll() is None:
            return self
        self._stderr_tail.clear()
        self._stdout_lines = queue.Queue()
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.child_env(),
            cwd=self.cwd,
        )
        atexit.register(self.stop)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(
            target=_pump, args=(self.proc.stdout, self._stdout_lines.put), daemon=True
        ).start()
        err_pump = threading.Thread(
            target=_pump, args=(self.proc.stderr, self._keep_stderr), daemon=True
        )
        err_pump.start()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                line = self._stdout_lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:  # EOF or timeout
                if self.proc.poll() is None:
                    self.proc.kill()
                self.proc.wait()
                err_pump.join(2.0)  # the reason is on stderr; read it before closing pipes
                tail = self.stderr_tail
                self.stop()
                raise RuntimeError(f"the {self.name} process did not report its port:\n{tail}")
            match = self.listening.search(line)
            if match:
                self.url = match.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
                break
        return self

    def _keep_stderr(self, line: str | None) -> None:
        if line is not None:
            self._stderr_tail.append(line)

    @property
    def stderr_tail(self) -> str:
        return "".join(self._stderr_tail)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (graceful), then SIGKILL if needed; returns the exit code.

        ``proc`` stays set so the exit code can be inspected; ``start()`` again
        launches a new child on the same arguments (a restart).
        """
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._close_pipes(proc)
        atexit.unregister(self.stop)
        return proc.returncode

    def kill(self) -> int | None:
        """SIGKILL now, as a crash or an OOM kill would: no shutdown code runs."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self._close_pipes(proc)
        atexit.unregister(self.stop)
        return proc.returncode

    @staticmethod
    def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _pump(stream: IO[bytes], sink: Callable[[str | None], Any]) -> None:
    """Copy a child's output lines to ``sink``, then ``None`` on EOF (keeps pipes drained)."""
    try:
        for raw in iter(stream.readline, b""):
            sink(raw.decode("utf-8", "replace"))
    except (OSError, ValueError):
        pass
    finally:
        sink(None)
