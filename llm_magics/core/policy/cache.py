"""The response cache: SQLite on disk, keyed by a hash of the whole request.

It makes a re-run free and an interrupted fan-out resumable, and it never costs
an answer (the file handling is ``core.buffered_sqlite``, shared with the call log):

* Writes are buffered and committed by a writer thread (every
  ``CACHE_FLUSH_EVERY`` answers, every ``CACHE_FLUSH_INTERVAL_S``, and when a
  fan-out ends), so the event loop never waits on the disk or on a lock.
* A file that is locked by another process, read-only or full is skipped
  (one that was deleted is started again): lookups miss, answers are
  returned and held in memory (up to ``CACHE_MAX_HELD_ROWS``), one warning
  names the file, and writing resumes when it can. Waits on another process's lock are bounded by
  ``CACHE_BUSY_TIMEOUT_S``.
* A file that is not a database is moved aside (the warning names both paths)
  and a fresh cache starts.

Only successful answers are stored; no key or header ever is. The file is
private to the user (0600, in a 0700 directory).
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..buffered_sqlite import BufferedSqlite
from ..constants import CACHE_LOOKUP_CHUNK
from ..jsoncodec import decode_json
from ..types import Response

__all__ = ["ResponseCache", "get_cache", "flush_all", "close_all"]

_SCHEMA = ("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
           "created REAL NOT NULL)")
_ADVICE = ("answers are returned but not cached until it can be. Another process (a second "
           "kernel?) may hold it locked, or the disk is full or read-only: close that process, "
           "free space, or set cache_path=... to another file (cache=False turns the cache off).")


def _setup(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(_SCHEMA)


def _insert(db: sqlite3.Connection, rows: list[tuple[str, str]]) -> None:
    now = time.time()
    db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)",
                   [(k, v, now) for k, v in rows])


class ResponseCache:
    """One cache file. Thread-safe; use ``get_cache(path)`` for the process-wide one."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.pid = os.getpid()
        self.hits = 0
        self.misses = 0
        self.store = BufferedSqlite(self.path, what="response cache", advice=_ADVICE,
                                    setup=_setup, insert=_insert)

    # -- lookups ---------------------------------------------------------------------------
    def get(self, key: str) -> Response | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Response]:
        keys = list(dict.fromkeys(keys))
        values: dict[str, str] = {}
        for k in keys:
            value = self.store.held(k)
            if value is not None:
                values[k] = value
        rest = [k for k in keys if k not in values]
        if rest:
            values.update(self.store.read(lambda db: _select(db, rest), {}))
        found = {}
        for k, v in values.items():
            try:
                found[k] = Response.from_dict(decode_json(v), cached=True)
            except (ValueError, KeyError, TypeError):  # a damaged row: a miss
                continue
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    # -- writes ----------------------------------------------------------------------------
    def put(self, key: str, response: Response) -> None:
        """Keep an answer; the writer thread commits it soon (never on the caller's thread)."""
        self.store.put(key, response.to_json().decode())

    def flush(self, wait: bool | None = None) -> None:
        """Commit what is buffered (see ``BufferedSqlite.flush``)."""
        self.store.flush(wait)

    def __len__(self) -> int:
        """Answers stored in the file, after writing what is buffered (waits: not for a loop)."""
        self.flush(wait=True)
        return self.store.read(
            lambda db: db.execute("SELECT COUNT(*) FROM responses").fetchone()[0], 0)

    def stats(self) -> dict[str, Any]:
        return {"path": str(self.path), "hits": self.hits, "misses": self.misses}


def _select(db: sqlite3.Connection, keys: list[str]) -> dict[str, str]:
    rows: dict[str, str] = {}
    for i in range(0, len(keys), CACHE_LOOKUP_CHUNK):
        chunk = keys[i : i + CACHE_LOOKUP_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows.update(db.execute(
            f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk).fetchall())
    return rows


_caches: dict[Path | str, ResponseCache] = {}
_caches_lock = threading.Lock()


def get_cache(path: Path | str) -> ResponseCache:
    """One cache object per file in the process (looked up by the path as given, then
    by its resolved form, so the filesystem is touched once per path, not per call).
    A forked child gets its own: connections and the writer thread do not survive a fork."""
    cache = _caches.get(path)  # type: ignore[arg-type]
    if cache is not None and cache.pid == os.getpid():
        return cache
    resolved = Path(path).expanduser().resolve()
    with _caches_lock:
        cache = _caches.get(resolved)
        if cache is None or cache.pid != os.getpid():
            cache = _caches[resolved] = ResponseCache(resolved)
        _caches[path] = cache  # type: ignore[index]
        return cache


def flush_all() -> None:
    """Write every buffered answer of this process and wait for it (at exit)."""
    with _caches_lock:
        caches = list({id(c): c for c in _caches.values()}.values())
    for cache in caches:
        if cache.pid == os.getpid():
            cache.flush(wait=True)


def close_all() -> None:
    """Write what is held and close every cache file of this process (a later call opens
    the file again): for a long process that goes through many cache files, such as a
    test session."""
    with _caches_lock:
        caches = list({id(c): c for c in _caches.values()}.values())
        _caches.clear()
    for cache in caches:
        if cache.pid == os.getpid():
            cache.store.close()


atexit.register(flush_all)
