"""State files are private to the user, and a job store that cannot be used says why."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llm_magics import errors
from llm_magics.core import jobstore as jobstore_mod
from llm_magics.core.jobstore import JobRecord, JobStore
from llm_magics.core.policy.cache import get_cache
from llm_magics.core.types import Response
from llm_magics.local import state


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def a_job(job_id: str = "job_1") -> JobRecord:
    return JobRecord(job_id, time.time(), "http://sim/v1", "m", "/v1/chat/completions", size=1,
                     state="submitting")


def test_the_cache_directory_and_files_are_private(tmp_path):
    path = tmp_path / "new" / "deeper" / "cache.sqlite"
    os.chmod(tmp_path, 0o755)
    cache = get_cache(path)
    cache.put("k", Response(text="private answer", model="m"))
    cache.flush(wait=True)
    assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "deeper") == 0o700
    sqlite_files = [p for p in path.parent.iterdir() if p.name.startswith("cache.sqlite")]
    assert {p.name for p in sqlite_files} >= {"cache.sqlite", "cache.sqlite-wal",
                                              "cache.sqlite-shm"}
    assert {p.name: mode(p) for p in sqlite_files} == {p.name: 0o600 for p in sqlite_files}
    assert mode(tmp_path) == 0o755  # a parent that was already there is not ours to change


def test_an_old_world_readable_cache_file_is_tightened(tmp_path):
    path = tmp_path / "old.sqlite"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    get_cache(path)
    assert mode(path) == 0o600


def test_the_job_store_directory_and_file_are_private(tmp_path):
    path = tmp_path / "jobs" / "jobs.sqlite"
    store = JobStore(path)
    store.create_job(a_job(), ["c0"], [("c0", '{"custom_id":"c0"}', None)])
    assert mode(path.parent) == 0o700
    assert {p.name: mode(p) for p in path.parent.iterdir()} == {
        p.name: 0o600 for p in path.parent.iterdir()}


def test_the_local_model_state_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "local"))
    with state.locked():
        state.write_record(state.ServerRecord(
            pid=1, port=2, host="127.0.0.1", model="m", model_path="/m.gguf", mode="owned",
            owner_pid=None, started_at=0.0, log_path=str(state.log_path())))
    assert mode(tmp_path / "local") == 0o700
    assert {p.name: mode(p) for p in (tmp_path / "local").iterdir()} == {
        "local-server.lock": 0o600, "local-server.json": 0o600}


def test_a_corrupt_job_store_is_moved_aside_and_a_fresh_one_starts(tmp_path, caplog):
    path = tmp_path / "jobs.sqlite"
    garbage = b"definitely not sqlite" * 50
    path.write_bytes(garbage)
    store = JobStore(path)
    assert store.list_jobs() == []
    store.create_job(a_job(), ["c0"], [("c0", "{}", None)])
    [moved] = list(tmp_path.glob("jobs.sqlite.corrupt-*"))
    assert moved.read_bytes() == garbage  # kept, not deleted: its jobs may be recoverable
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert str(path) in warning and str(moved) in warning


def test_a_job_store_path_that_cannot_be_opened_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "jobs.sqlite"
    path.mkdir()
    with pytest.raises(errors.ConfigurationError, match="jobstore_path") as info:
        JobStore(path)
    assert str(path) in str(info.value)


HOLD = textwrap.dedent("""
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
""")


def test_a_job_store_locked_past_the_busy_timeout_names_the_file_and_the_fix(
        tmp_path, monkeypatch):
    monkeypatch.setattr(jobstore_mod, "JOBSTORE_BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(errors.ConfigurationError, match="another process") as info:
            store.create_job(a_job(), ["c0"], [("c0", "{}", None)])
        assert str(path) in str(info.value) and "locked" in str(info.value)
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    store.create_job(a_job(), ["c0"], [("c0", "{}", None)])  # usable again once it is free
    assert [j.id for j in store.list_jobs()] == ["job_1"]
