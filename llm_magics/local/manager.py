"""One local server per state directory: reuse it, start it, stop it, report on it.

The engine calls :func:`ensure_server` once per request (from worker threads),
so the common case - this process already knows a live server - is a lock-free
check of a pid. Everything else runs under a thread lock plus the cross-process
file lock, so concurrent first calls, or two kernels, share one server.

Two modes:

* owned (automatic start): the server exits with the process that started it -
  at interpreter exit via ``atexit``, and on any harder death via the parent
  watch inside the server process.
* detached (``llm-magics local start``): it runs until ``llm-magics local stop``.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import procs, state
from .errors import LocalServerError
from .model import find_model_path, model_label_for
from .server import LocalServer, launch, responds

__all__ = ["ensure_server", "start", "status", "stop"]

log = logging.getLogger("llm_magics.local")

_lock = threading.RLock()
_current: LocalServer | None = None
_owned: list[LocalServer] = []
_atexit_registered = False
_noticed = False


def ensure_server(model_path: str | os.PathLike[str] | None = None) -> LocalServer:
    """A running local server for ``model_path`` (default: the packaged SmolLM2).

    Reuses this process's server, else the one in the state file, else starts
    an owned one. The first call in a process prints one notice line to stderr.
    """
    path = find_model_path(model_path)
    current = _current
    if current is not None and current.model_path == path and current.alive():
        return current
    server, started = _obtain(path, detached=False)
    _notice(server, started)
    return server


def start(detached: bool = False,
          model_path: str | os.PathLike[str] | None = None) -> LocalServer:
    """Start a server (or return the running one). ``detached=True`` outlives this process."""
    server, _ = _obtain(find_model_path(model_path), detached=detached)
    return server


def stop() -> bool:
    """Stop the server in the state file (whoever started it); True if one was running.

    A stale record is removed without touching its pid.
    """
    global _current
    with _lock, state.locked():
        record = state.read_record()
        if record is None:
            return False
        stopped = procs.is_our_server(record.pid, record.port)
        if stopped:
            procs.terminate(record.pid, proc=_proc_of(record.pid))
        state.clear_record()
        _owned[:] = [s for s in _owned if s.pid != record.pid]
        if _current is not None and _current.pid == record.pid:
            _current = None
        return stopped


def status() -> dict[str, Any]:
    """What runs, as plain data: ``running`` plus pid, port, base_url, model, mode, ..."""
    with _lock, state.locked():
        info: dict[str, Any] = {
            "running": False,
            "state_file": str(state.state_path()),
            "log_path": str(state.log_path()),
        }
        record = state.read_record()
        if record is None:
            return info
        if not procs.is_our_server(record.pid, record.port):
            state.clear_record()
            info["stale_record_removed"] = True
            return info
        server = LocalServer.from_record(record)
        info.update(
            running=True,
            healthy=responds(server.port, timeout=3.0),
            pid=server.pid,
            port=server.port,
            base_url=server.base_url,
            model=server.model,
            model_path=str(server.model_path),
            mode=server.mode,
            owner_pid=server.owner_pid,
            started_at=server.started_at,
            uptime_s=round(time.time() - server.started_at, 1),
            log_path=str(server.log_path),
        )
        return info


def _obtain(path: Path, *, detached: bool) -> tuple[LocalServer, bool]:
    """(server, started_now) under both locks; see the module docstring."""
    global _current
    with _lock:
        current = _current
        if current is not None and current.model_path == path and current.alive():
            return current, False
        with state.locked():
            server = _recorded_server()
            if server is not None and server.model_path != path:
                if server.owner_pid != os.getpid():
                    raise LocalServerError(
                        f"A local server for another model ({server.model_path}) is already "
                        f"running (pid {server.pid}, {server.base_url}). Run "
                        "`llm-magics local stop` first, or use that model."
                    )
                procs.terminate(server.pid, proc=server.proc)
                state.clear_record(server.pid)
                server = None
            started = server is None
            if server is None:
                server = launch(path, detached=detached)
                if not detached:
                    _own(server)
                state.write_record(server.to_record())
                log.info("started local model server pid=%s at %s (%s)",
                         server.pid, server.base_url, server.mode)
            _current = server
            return server, started


def _recorded_server() -> LocalServer | None:
    """The server in the state file if it is really ours and answering; stale records go."""
    record = state.read_record()
    if record is None:
        return None
    if not procs.is_our_server(record.pid, record.port):
        log.info("removing stale local-server record (pid %s, port %s)", record.pid, record.port)
        state.clear_record()
        return None
    if not responds(record.port):
        # Our process, our port, yet silent: wedged. It is ours by its command line, so stop it.
        log.warning("local server pid %s is not answering; restarting it", record.pid)
        procs.terminate(record.pid, proc=_proc_of(record.pid))
        state.clear_record()
        return None
    server = LocalServer.from_record(record)
    server.proc = _proc_of(record.pid)
    return server


def _proc_of(pid: int) -> subprocess.Popen[bytes] | None:
    """Our Popen for ``pid`` when this process started it (so stopping it also reaps it)."""
    return next((s.proc for s in _owned if s.pid == pid), None)


def _own(server: LocalServer) -> None:
    global _atexit_registered
    _owned.append(server)
    if not _atexit_registered:
        atexit.register(_stop_owned)
        _atexit_registered = True


def _stop_owned() -> None:
    """atexit: stop the servers this process started (the parent watch covers harder deaths)."""
    for server in list(_owned):
        if server.owner_pid == os.getpid() and server.alive():
            procs.terminate(server.pid, timeout=3.0, proc=server.proc)
        state.clear_record(server.pid)
    _owned.clear()


def _after_fork_in_child() -> None:
    # A forked child (multiprocessing, Celery prefork) shares the server but does not own it:
    # its exit must not stop the parent's server, and the parent's Popen is not its child.
    global _lock, _current
    _lock = threading.RLock()
    _owned.clear()
    if _current is not None:
        _current = LocalServer.from_record(_current.to_record())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _notice(server: LocalServer, started: bool) -> None:
    global _noticed
    if _noticed:
        return
    _noticed = True
    verb = "started" if started else "using"
    print(
        f"llm-magics: no API key configured; {verb} the local "
        f"{model_label_for(server.model_path)} model at {server.base_url} "
        "(set OPENAI_API_KEY or llm_magics.configure(base_url=..., api_key=...) to use a "
        "hosted model)",
        file=sys.stderr,
        flush=True,
    )
