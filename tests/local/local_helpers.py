"""Helpers for tests that run llm-magics in child processes with their own state directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from llm_magics import local
from llm_magics.local.procs import pid_alive

REPO_ROOT = Path(__file__).resolve().parents[2]


def child_env(state_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a child Python that uses ``state_dir`` and this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_MAGICS_")}
    env[local.STATE_DIR_ENV] = str(state_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_cli(state_dir: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``llm-magics local ARGS`` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "llm_magics.cli", "local", *args], env=child_env(state_dir),
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    """True once ``pid`` has exited (zombies count as gone), False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return False
