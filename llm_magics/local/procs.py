"""Process checks that keep us from trusting, or killing, the wrong pid.

A state file can outlive its server, and the kernel can hand the pid to an
unrelated process. So "is it alive" treats zombies as dead, and "is it ours"
reads the process's command line: our launcher's path plus the exact
``--port`` recorded. Two live servers cannot share a port, so that pair names
one server even when several state directories (tests) exist side by side.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["SERVE_MARKER", "cmdline", "is_our_server", "pid_alive", "terminate"]

#: Every server we launch runs this file; its path is in the child's command line.
SERVE_MARKER = os.path.join("llm_magics", "local", "_serve.py")


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else; is_our_server() will say no
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): os.kill is the best we have
    # Field 3 is the state; the command name in field 2 may hold spaces, so split after ')'.
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def cmdline(pid: int) -> list[str] | None:
    """The argv of ``pid``, or None if it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    except OSError:
        pass
    try:  # no procfs: ask ps (macOS, BSD)
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True,
                             text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.split() if out else None


def is_our_server(pid: int, port: int) -> bool:
    """True if ``pid`` is a live llama.cpp server we launched, listening on ``port``."""
    if not pid_alive(pid):
        return False
    argv = cmdline(pid)
    if not argv or not any(arg.endswith(SERVE_MARKER) for arg in argv):
        return False
    try:
        return argv[argv.index("--port") + 1] == str(port)
    except (ValueError, IndexError):
        return False


def terminate(pid: int, timeout: float = 5.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; reaps ``proc`` when it is our child."""
    for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if _wait_gone(pid, wait_s, proc):
            break
    if proc is not None:
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass


def _wait_gone(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return True
        elif not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False
