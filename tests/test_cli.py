"""The ``llm-magics`` command dispatches to the module that owns each subcommand."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llm_magics.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_help_lists_every_subcommand():
    from llm_magics.cli import SUBCOMMANDS

    out = run("--help").stdout
    for name in SUBCOMMANDS:
        assert name in out


def test_unknown_subcommand_is_a_clear_error():
    proc = run("nope")
    assert proc.returncode == 2 and "unknown command 'nope'" in proc.stderr


def test_jobs_on_an_empty_store(tmp_path, monkeypatch):
    import os

    env = {**os.environ, "LLM_MAGICS_JOBSTORE_PATH": str(tmp_path / "jobs.sqlite")}
    proc = run("jobs", env=env)
    assert proc.returncode == 0 and "no batch jobs yet" in proc.stdout


def test_sim_help_comes_from_the_simulator():
    proc = run("sim", "--help")
    assert proc.returncode == 0 and "--rpm" in proc.stdout
