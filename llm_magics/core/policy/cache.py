"""The response cache: SQLite on disk, keyed by a hash of the whole request.

It makes a re-run free and an interrupted fan-out resumable, and it never costs
an answer:

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

import asyncio
import atexit
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..constants import (
    CACHE_BUSY_TIMEOUT_S,
    CACHE_FLUSH_EVERY,
    CACHE_FLUSH_INTERVAL_S,
    CACHE_LOOKUP_CHUNK,
    CACHE_MAX_HELD_ROWS,
    CACHE_RETRY_AFTER_S,
    CACHE_WRITER_IDLE_S,
)
from ..jsoncodec import decode_json, encode_json
from ..state_files import open_database
from ..types import Response

__all__ = ["ResponseCache", "get_cache", "flush_all"]

log = logging.getLogger("llm_magics.cache")

_SCHEMA = ("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
           "created REAL NOT NULL)")
_Trouble = (sqlite3.Error, OSError)


def _setup(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(_SCHEMA)


class ResponseCache:
    """One cache file. Thread-safe; use ``get_cache(path)`` for the process-wide one."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.pid = os.getpid()
        self.hits = 0
        self.misses = 0
        self._mem = threading.Lock()  # guards the dicts and _thread; held for dict work only
        self._pending: dict[str, str] = {}  # answers waiting for the writer
        self._writing: dict[str, str] = {}  # answers the writer is committing now
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._writer_db: sqlite3.Connection | None = None
        self._reader_stale = False
        self._skip_until = 0.0
        self._warned = False
        self._has_rows = threading.Event()
        self._now = threading.Event()
        self._thread: threading.Thread | None = None
        with self._read_lock:  # create the file (or move a corrupt one aside) now
            try:
                self._reader_db()
            except _Trouble as err:
                self._close_reader()
                self._trouble(err)

    # -- lookups ---------------------------------------------------------------------------
    def get(self, key: str) -> Response | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Response]:
        keys = list(dict.fromkeys(keys))
        values: dict[str, str] = {}
        with self._mem:
            for k in keys:
                value = self._pending.get(k) or self._writing.get(k)
                if value is not None:
                    values[k] = value
        rest = [k for k in keys if k not in values]
        if rest:
            values.update(self._select(rest))
        found = {}
        for k, v in values.items():
            with contextlib.suppress(ValueError, KeyError, TypeError):  # a damaged row: a miss
                found[k] = Response.from_dict(decode_json(v), cached=True)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def _select(self, keys: list[str]) -> dict[str, str]:
        if time.monotonic() < self._skip_until:
            return {}
        rows: dict[str, str] = {}
        with self._read_lock:
            try:
                db = self._reader_db()
                for i in range(0, len(keys), CACHE_LOOKUP_CHUNK):
                    chunk = keys[i : i + CACHE_LOOKUP_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows.update(db.execute(
                        f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk
                    ).fetchall())
            except _Trouble as err:
                self._close_reader()
                self._trouble(err)
                return {}
        return rows

    def _reader_db(self) -> sqlite3.Connection:
        if self._reader_stale:
            self._close_reader()
        if self._reader is None:
            self._reader = self._open()
        return self._reader

    def _close_reader(self) -> None:
        self._reader_stale = False
        if self._reader is not None:
            with contextlib.suppress(sqlite3.Error):
                self._reader.close()
            self._reader = None

    # -- writes ----------------------------------------------------------------------------
    def put(self, key: str, response: Response) -> None:
        """Keep an answer; the writer thread commits it soon (never on the caller's thread)."""
        value = encode_json(response.to_dict()).decode()
        with self._mem:
            held = len(self._pending) + len(self._writing)
            if held >= CACHE_MAX_HELD_ROWS and key not in self._pending:
                return  # the file has been unwritable for a long run: returned, not kept
            first = not self._pending
            self._pending[key] = value
            due = len(self._pending) >= CACHE_FLUSH_EVERY
        self._start_writer()
        if first:
            self._has_rows.set()
        if due:
            self._now.set()

    def flush(self, wait: bool | None = None) -> None:
        """Commit what is buffered. ``wait=True`` writes in this thread and returns when done
        (or given up); ``False`` hands it to the writer thread. The default waits, except on
        a thread running an event loop, which never waits on the disk."""
        if wait is None:
            wait = not _on_event_loop()
        if wait:
            self._write(force=True)
            return
        self._start_writer()
        self._has_rows.set()
        self._now.set()

    def _start_writer(self) -> None:
        with self._mem:
            if self._thread is None:
                self._thread = threading.Thread(target=self._writer_loop, daemon=True,
                                                name=f"llm-magics cache writer {self.path.name}")
                self._thread.start()

    def _writer_loop(self) -> None:
        while True:
            if not self._has_rows.wait(CACHE_WRITER_IDLE_S):
                with self._mem:  # put() adds rows under this lock: none can be missed
                    if not self._pending:
                        self._thread = None
                        return
                continue
            self._now.wait(CACHE_FLUSH_INTERVAL_S)
            self._has_rows.clear()
            self._now.clear()
            self._write(force=False)
            with self._mem:
                if self._pending:  # held after a failure: try again after the interval
                    self._has_rows.set()

    def _write(self, force: bool) -> None:
        with self._write_lock:
            if not force and time.monotonic() < self._skip_until:
                return
            with self._mem:
                if not self._pending:
                    return
                self._writing, self._pending = self._pending, {}
                rows = list(self._writing.items())
            try:
                self._insert(rows)
            except _Trouble as err:
                self._close_writer()
                with self._mem:  # keep them for the next try; newer answers win
                    self._pending = {**self._writing, **self._pending}
                    self._writing = {}
                self._trouble(err)
                return
            with self._mem:
                self._writing = {}
            self._recovered()

    def _insert(self, rows: list[tuple[str, str]]) -> None:
        if self._writer_db is not None and not self.path.exists():
            log.warning("The response cache %s was removed while in use; starting a new one "
                        "at the same path.", self.path)
            self._close_writer()
            self._reader_stale = True
        if self._writer_db is None:
            self._writer_db = self._open()
        db = self._writer_db
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)",
                           [(k, v, now) for k, v in rows])
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def _close_writer(self) -> None:
        if self._writer_db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._writer_db.close()
            self._writer_db = None

    # -- the file ---------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        return open_database(self.path, what="response cache",
                             busy_timeout_s=CACHE_BUSY_TIMEOUT_S, setup=_setup)

    def _trouble(self, err: BaseException) -> None:
        self._skip_until = time.monotonic() + CACHE_RETRY_AFTER_S
        if self._warned:
            return
        self._warned = True
        log.warning(
            "The response cache %s cannot be used (%s: %s): answers are returned but not "
            "cached until it can be. Another process (a second kernel?) may hold it locked, "
            "or the disk is full or read-only: close that process, free space, or set "
            "cache_path=... to another file (cache=False turns the cache off).",
            self.path, type(err).__name__, err,
        )

    def _recovered(self) -> None:
        self._skip_until = 0.0
        if self._warned:
            self._warned = False
            log.info("The response cache %s works again; held answers are stored.", self.path)

    def __len__(self) -> int:
        """Answers stored in the file, after writing what is buffered (waits: not for a loop)."""
        self.flush(wait=True)
        with self._read_lock:
            try:
                return self._reader_db().execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            except _Trouble as err:
                self._close_reader()
                self._trouble(err)
                return 0

    def stats(self) -> dict[str, Any]:
        return {"path": str(self.path), "hits": self.hits, "misses": self.misses}


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


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


atexit.register(flush_all)
