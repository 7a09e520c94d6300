"""The cache never costs an answer: locked, unopenable, full, vanished or corrupt files.

Each fault is real: another process holding an SQLite lock, a file size limit
on the process, a file deleted under a running session, garbage bytes. The
answers come from the real simulator over HTTP.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import llm_magics
from llm_magics.core import buffered_sqlite
from llm_magics.core.policy.cache import get_cache
from llm_magics.core.types import Response
from llm_magics.server.sim.answers import expected_answer
from tests.support.sim import Simulator

# Holds a lock on an SQLite file until told to let go (a second kernel in the middle of a write).
LOCKER = textwrap.dedent("""
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    if sys.argv[2] != "wal":
        db.execute("PRAGMA journal_mode=" + sys.argv[2])
    db.execute("CREATE TABLE IF NOT EXISTS responses "
               "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)")
    db.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    db.execute("COMMIT")
""")


@contextmanager
def locked_by_another_process(path: Path, journal: str = "wal"):
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(path), journal],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield
    finally:
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0


@pytest.fixture(scope="module")
def sim():
    with Simulator() as server:
        yield server


@pytest.fixture
def cache_path(sim, tmp_path):
    path = tmp_path / "state" / "cache.sqlite"
    sim.configure(latency_s=0, error_rate=0, rpm=None, answer_tokens=8)
    llm_magics.configure(base_url=sim.base_url, api_key="sk-cache-faults-0123456789",
                         model="sim-small", cache_path=str(path))
    return path


def answer_for(prompt: str, sim) -> str:
    return expected_answer({"model": "sim-small",
                            "messages": [{"role": "user", "content": prompt}]}, sim.config)


def rows_in(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


def cache_warnings(caplog, path: Path) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and str(path) in r.getMessage()]


def assert_answered(results, prompts, sim) -> None:
    assert [getattr(r, "text", r) for r in results] == [answer_for(p, sim) for p in prompts]


def test_map_returns_every_answer_while_another_process_holds_the_write_lock(
        sim, cache_path, caplog):
    llm_magics.complete("warm up")  # the cache file exists, in WAL mode, as we leave it
    prompts = [f"locked {i}" for i in range(20)]
    with locked_by_another_process(cache_path):
        started = time.monotonic()
        results = llm_magics.map(prompts)
        took = time.monotonic() - started
        get_cache(cache_path).flush(wait=True)  # gives up after the short busy timeout
    assert_answered(results, prompts, sim)
    assert took < 10, f"map() took {took:.1f}s: it waited on the lock"
    [warning] = cache_warnings(caplog, cache_path)
    assert "cannot be used" in warning and "cache_path" in warning

    get_cache(cache_path).flush(wait=True)  # the lock is gone: the held answers are written
    assert rows_in(cache_path) == 21
    before = sim.stats["chat_requests"]
    assert_answered(llm_magics.map(prompts), prompts, sim)
    assert sim.stats["chat_requests"] == before  # the re-run is free


def test_map_returns_every_answer_when_a_lock_blocks_reads_too(sim, cache_path, caplog):
    cache_path.parent.mkdir(parents=True)
    prompts = [f"blocked {i}" for i in range(20)]
    # A rollback-journal database under an exclusive lock: nobody can even read it.
    with locked_by_another_process(cache_path, journal="delete"):
        started = time.monotonic()
        results = llm_magics.map(prompts)
        took = time.monotonic() - started
    assert_answered(results, prompts, sim)
    assert took < 10, f"map() took {took:.1f}s: it waited on the lock"
    assert len(cache_warnings(caplog, cache_path)) == 1
    get_cache(cache_path).flush(wait=True)
    assert rows_in(cache_path) == 20


def test_writes_never_wait_on_the_event_loop(sim, cache_path, monkeypatch):
    # A writer that waits a minute for the lock: if it ran on the loop, map() would too.
    monkeypatch.setattr(buffered_sqlite, "CACHE_BUSY_TIMEOUT_S", 60.0)
    llm_magics.complete("warm up")
    prompts = [f"off the loop {i}" for i in range(20)]
    with locked_by_another_process(cache_path):
        started = time.monotonic()
        results = llm_magics.map(prompts)
        took = time.monotonic() - started
    assert_answered(results, prompts, sim)
    assert took < 30, f"map() took {took:.1f}s: a cache write blocked it"
    deadline = time.monotonic() + 60  # the writer thread finishes once the lock is gone
    while rows_in(cache_path) < 21 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rows_in(cache_path) == 21


def test_a_corrupt_file_is_moved_aside_and_a_fresh_cache_starts(sim, cache_path, caplog):
    cache_path.parent.mkdir(parents=True)
    garbage = b"this is not an sqlite database\n" * 100
    cache_path.write_bytes(garbage)
    r = llm_magics.complete("after corruption")
    assert r.text == answer_for("after corruption", sim)
    [moved] = list(cache_path.parent.glob("cache.sqlite.corrupt-*"))
    assert moved.read_bytes() == garbage
    [warning] = cache_warnings(caplog, cache_path)
    assert str(moved) in warning
    get_cache(cache_path).flush(wait=True)
    assert rows_in(cache_path) == 1
    assert llm_magics.complete("after corruption").cached


def test_a_path_that_cannot_be_opened_degrades_to_not_cached(sim, cache_path, caplog):
    cache_path.mkdir(parents=True)  # a directory where the file should be
    prompts = [f"unopenable {i}" for i in range(5)]
    assert_answered(llm_magics.map(prompts), prompts, sim)
    get_cache(cache_path).flush(wait=True)
    assert len(cache_warnings(caplog, cache_path)) == 1


def test_a_cache_file_removed_while_in_use_is_started_again(sim, cache_path, caplog):
    llm_magics.complete("before removal")
    get_cache(cache_path).flush(wait=True)
    shutil.rmtree(cache_path.parent)
    prompts = [f"after removal {i}" for i in range(5)]
    assert_answered(llm_magics.map(prompts), prompts, sim)
    get_cache(cache_path).flush(wait=True)
    [warning] = cache_warnings(caplog, cache_path)
    assert "removed" in warning
    assert rows_in(cache_path) == 5
    assert llm_magics.complete("after removal 3").cached


FULL_DISK = textwrap.dedent("""
    import json, resource, signal, sys
    import llm_magics
    from llm_magics.core.policy.cache import get_cache
    base_url, path = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a dead process
    llm_magics.configure(base_url=base_url, api_key="sk-full-disk-0123456789",
                         model="sim-small", cache_path=path)
    llm_magics.complete("warm up")
    get_cache(path).flush(wait=True)
    resource.setrlimit(resource.RLIMIT_FSIZE, (48_000, 48_000))
    results = llm_magics.map([f"full disk {i}" for i in range(60)])
    get_cache(path).flush(wait=True)
    print(json.dumps([r.text for r in results]))
""")


def test_a_full_disk_degrades_to_not_cached_and_every_answer_is_returned(sim, cache_path):
    sim.configure(answer_tokens=200)  # ~1 kB per answer: 60 of them do not fit in 48 kB
    proc = subprocess.run([sys.executable, "-c", FULL_DISK, sim.base_url, str(cache_path)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stderr
    texts = json.loads(proc.stdout)
    assert texts == [answer_for(f"full disk {i}", sim) for i in range(60)]
    warnings = [line for line in proc.stderr.splitlines() if str(cache_path) in line]
    assert len(warnings) == 1 and "cannot be used" in warnings[0], proc.stderr


def poll(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_an_idle_writer_thread_ends_and_the_next_answer_starts_another(tmp_path, monkeypatch):
    monkeypatch.setattr(buffered_sqlite, "CACHE_WRITER_IDLE_S", 0.1)
    path = tmp_path / "idle.sqlite"
    cache = get_cache(path)

    def writers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.endswith(f"writer {path.name}")]

    cache.put("a", Response(text="first", model="m"))
    assert poll(lambda: rows_in(path) == 1)  # written by the thread, nobody waited on it
    assert poll(lambda: not writers())
    cache.put("b", Response(text="second", model="m"))
    cache.flush(wait=False)
    assert poll(lambda: rows_in(path) == 2)
