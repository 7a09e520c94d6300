"""The small state file that lets any process find the running local server.

``llm-magics local status|stop`` runs in a different process from the kernel
that started the server, so the pid, port and model path live on disk
(``~/.cache/llm-magics/local-server.json``; ``$LLM_MAGICS_STATE_DIR`` moves it).
An advisory file lock serialises start/stop across processes so two kernels
starting at once end up sharing one server instead of racing for two. The
directory is private to the user (0700) and so are its files (0600).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..core.state_files import private_dir, private_file

__all__ = [
    "STATE_DIR_ENV",
    "ServerRecord",
    "clear_record",
    "locked",
    "log_path",
    "read_record",
    "state_dir",
    "state_path",
    "write_record",
]

STATE_DIR_ENV = "LLM_MAGICS_STATE_DIR"
_STATE_FILE = "local-server.json"
_LOCK_FILE = "local-server.lock"
_LOG_FILE = "local-server.log"

Mode = Literal["owned", "detached"]


@dataclass(frozen=True)
class ServerRecord:
    """What the state file says about one server process."""

    pid: int
    port: int
    host: str
    model: str
    model_path: str
    mode: Mode
    owner_pid: int | None
    started_at: float
    log_path: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def state_dir() -> Path:
    """``$LLM_MAGICS_STATE_DIR``, else ``$XDG_CACHE_HOME/llm-magics``, else ``~/.cache/...``."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm-magics"


def state_path() -> Path:
    return state_dir() / _STATE_FILE


def log_path() -> Path:
    return state_dir() / _LOG_FILE


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Hold the cross-process start/stop lock (blocking; released on exit or process death)."""
    lock_file = state_dir() / _LOCK_FILE
    private_file(lock_file)
    with open(lock_file, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the in-process lock still applies
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_record() -> ServerRecord | None:
    """The recorded server, or None when there is no state file or it is unreadable."""
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
        return ServerRecord.from_json(data)
    except (OSError, ValueError, TypeError):
        return None


def write_record(record: ServerRecord) -> None:
    """Replace the state file atomically, so a reader never sees half a record."""
    folder = state_dir()
    private_dir(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".local-server.", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dataclasses.asdict(record), handle, indent=2)
        os.replace(tmp, folder / _STATE_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def clear_record(pid: int | None = None) -> None:
    """Remove the state file; with ``pid``, only if it still describes that process."""
    if pid is not None:
        current = read_record()
        if current is not None and current.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        state_path().unlink()
