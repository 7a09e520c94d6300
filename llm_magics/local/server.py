"""Launch llama.cpp's OpenAI-compatible server on 127.0.0.1 and tell when it is ready.

One launch is one child process (``_serve.py``, a thin wrapper over
``python -m llama_cpp.server``) on a free loopback port, with its output in
the state directory's log so a failed start can show *why*. Readiness is
``GET /v1/models`` answering with our model id: the server binds its port
only after the model has loaded, so an answer means it can serve.

Serving defaults are for a small CPU box: every core up to 4 (a 135M model
gains little past that) with short OpenMP spin-waits (see ``_spawn``),
``n_ctx=2048``. The server runs one generation at a time; concurrent requests
queue on its lock, so a fan-out gets the same total tokens/s as a single
caller, just spread over its rows. ``interrupt_requests`` is off:
llama-cpp-python's default cuts a running *stream* short whenever another
request is waiting, which would truncate answers in every fan-out.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import procs, state
from .errors import LocalServerError
from .model import check_server_installed, model_id_for

__all__ = ["HOST", "LocalServer", "ServerOptions", "launch", "log_tail", "responds"]

#: The only address we ever bind.
HOST = "127.0.0.1"
_SERVE_SCRIPT = Path(__file__).with_name("_serve.py")
_PORT_ATTEMPTS = 3


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ServerOptions:
    """How to run the server; each field has an ``LLM_MAGICS_LOCAL_*`` environment override."""

    n_ctx: int = 2048
    n_threads: int = field(default_factory=lambda: max(1, min(_cores(), 4)))
    start_timeout_s: float = 60.0
    verbose: bool = False

    @classmethod
    def from_env(cls) -> ServerOptions:
        base = cls()
        return cls(
            n_ctx=_env_int("LLM_MAGICS_LOCAL_N_CTX", base.n_ctx),
            n_threads=_env_int("LLM_MAGICS_LOCAL_THREADS", base.n_threads),
            start_timeout_s=float(_env_int("LLM_MAGICS_LOCAL_START_TIMEOUT", 60)),
            verbose=os.environ.get("LLM_MAGICS_LOCAL_VERBOSE", "") == "1",
        )


@dataclass
class LocalServer:
    """A running llama.cpp server: where to send requests and which process it is."""

    pid: int
    port: int
    model: str
    model_path: Path
    mode: state.Mode
    owner_pid: int | None
    started_at: float
    log_path: Path
    host: str = HOST
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, ending in ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def parallel_requests(self) -> int:
        """Answers generated at once: 1. More in flight only queue (and age toward timeouts),
        so a fan-out to this server gains nothing from concurrency beyond ~2."""
        return 1

    def alive(self) -> bool:
        """Cheap liveness (no HTTP): our child's exit status, else the pid."""
        if self.proc is not None:
            return self.proc.poll() is None
        return procs.pid_alive(self.pid)

    def to_record(self) -> state.ServerRecord:
        return state.ServerRecord(
            pid=self.pid, port=self.port, host=self.host, model=self.model,
            model_path=str(self.model_path), mode=self.mode, owner_pid=self.owner_pid,
            started_at=self.started_at, log_path=str(self.log_path),
        )

    @classmethod
    def from_record(cls, record: state.ServerRecord) -> LocalServer:
        return cls(
            pid=record.pid, port=record.port, model=record.model,
            model_path=Path(record.model_path), mode=record.mode, owner_pid=record.owner_pid,
            started_at=record.started_at, log_path=Path(record.log_path), host=record.host,
        )


class _PortTaken(Exception):
    """Someone bound the port between our probe and the server's bind; try another."""


def launch(model_path: Path, *, detached: bool,
           options: ServerOptions | None = None) -> LocalServer:
    """Start a server for ``model_path`` and return it once it answers.

    ``detached=False``: it exits when this process exits, however that happens.
    ``detached=True``: its own session, no parent watch; it runs until stopped.
    """
    check_server_installed()
    options = options or ServerOptions.from_env()
    log = state.log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(_PORT_ATTEMPTS):
        port = _free_port()
        proc = _spawn(model_path, port, detached=detached, options=options, log=log)
        try:
            _wait_ready(proc, port, model_id_for(model_path), options.start_timeout_s, log)
        except _PortTaken:
            continue
        return LocalServer(
            pid=proc.pid, port=port, model=model_id_for(model_path), model_path=model_path,
            mode="detached" if detached else "owned",
            owner_pid=None if detached else os.getpid(), started_at=time.time(), log_path=log,
            proc=proc,
        )
    raise LocalServerError(
        f"Could not bind a free port on {HOST} in {_PORT_ATTEMPTS} attempts; "
        f"see {log} and retry."
    )


def server_command(model_path: Path, port: int, *, detached: bool,
                   options: ServerOptions) -> list[str]:
    """The child's argv; ``--port`` is in it so a pid can be matched to its port later."""
    ours = [] if detached else ["--parent-pid", str(os.getpid())]
    return [
        sys.executable, str(_SERVE_SCRIPT), *ours, "--",
        "--model", str(model_path),
        "--model_alias", model_id_for(model_path),
        "--host", HOST,
        "--port", str(port),
        "--n_ctx", str(options.n_ctx),
        "--n_threads", str(options.n_threads),
        "--n_threads_batch", str(options.n_threads),
        "--interrupt_requests", "false",
        "--logits_all", "false",  # all-position logits: slower prompts, n_ctx x vocab floats
        "--verbose", "true" if options.verbose else "false",
    ]


def _spawn(model_path: Path, port: int, *, detached: bool, options: ServerOptions,
           log: Path) -> subprocess.Popen[bytes]:
    command = server_command(model_path, port, detached=detached, options=options)
    env = dict(os.environ)
    # llama.cpp's OpenMP threads spin at every barrier (libgomp: ~300k spins by default).
    # With as many threads as cores, any other busy process (the kernel parsing a fan-out's
    # replies, a test run) stalls those barriers: on 2 cores with one busy neighbour, 64-token
    # answers went from 0.7 s to 8-30 s. A short spin keeps ~90% of the idle speed and
    # stays near 2.5 s under that load. An explicit OpenMP setting in the environment wins.
    if "OMP_WAIT_POLICY" not in env:
        env.setdefault("GOMP_SPINCOUNT", "1000")
    with open(log, "wb") as out:
        # A new session either way: a Ctrl-C in the launching terminal must not reach the
        # server (the owner's exit handling stops it; a detached one must survive).
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                env=env)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], port: int, model_id: str, timeout_s: float,
                log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"http://{HOST}:{port}/v1/models"
    while True:
        code = proc.poll()
        if code is not None:
            tail = log_tail(log)
            if "address already in use" in tail.lower():
                raise _PortTaken()
            raise LocalServerError(
                f"The local llama.cpp server exited with code {code} before it was ready. "
                f"Last lines of {log}:\n{tail}"
            )
        body = _get_json(url, timeout=2.0)
        if body is not None and any(m.get("id") == model_id for m in body.get("data", [])):
            return
        if time.monotonic() > deadline:
            procs.terminate(proc.pid, timeout=2.0, proc=proc)
            raise LocalServerError(
                f"The local llama.cpp server did not answer on port {port} within "
                f"{timeout_s:.0f} s (raise LLM_MAGICS_LOCAL_START_TIMEOUT on a slow machine). "
                f"Last lines of {log}:\n{log_tail(log)}"
            )
        time.sleep(0.05)


def _get_json(url: str, timeout: float) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - loopback
            data = json.loads(reply.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) else None


def responds(port: int, timeout: float = 5.0) -> bool:
    """True if a llama.cpp server answers on ``port``.

    Asks ``/openapi.json``, not ``/v1/models``: the latter waits for the model lock,
    so it stalls for as long as a generation runs; the schema never does.
    """
    schema = _get_json(f"http://{HOST}:{port}/openapi.json", timeout=timeout)
    title = str(((schema or {}).get("info") or {}).get("title", ""))
    return "llama.cpp" in title


def log_tail(log: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of the server log (what to show when it fails)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"
