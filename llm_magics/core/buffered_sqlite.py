"""A private SQLite file written by a writer thread, that never fails its caller.

The response cache and the call log share this: rows are buffered in memory and
committed by one writer thread (every ``CACHE_FLUSH_EVERY`` rows, every
``CACHE_FLUSH_INTERVAL_S``, and on ``flush()``), so the event loop never waits
on the disk or on a lock. A file that is locked by another process, read-only
or full is skipped: reads return nothing, rows are held in memory (up to
``CACHE_MAX_HELD_ROWS``), one warning names the file, and writing resumes when
it can. A file deleted while in use is started again; one that is not a
database is moved aside (``state_files.open_database``).

    >>> store = BufferedSqlite(path, what="call log", advice="...",
    ...                        setup=setup, insert=insert)              # doctest: +SKIP
    >>> store.put(key, row); store.flush()                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .constants import (
    CACHE_BUSY_TIMEOUT_S,
    CACHE_FLUSH_EVERY,
    CACHE_FLUSH_INTERVAL_S,
    CACHE_MAX_HELD_ROWS,
    CACHE_RETRY_AFTER_S,
    CACHE_WRITER_IDLE_S,
)
from .state_files import open_database

__all__ = ["BufferedSqlite", "TROUBLE", "on_event_loop"]

log = logging.getLogger("llm_magics.state")

TROUBLE = (sqlite3.Error, OSError)
"""What "the file cannot be used" looks like; anything else is a bug and propagates."""

T = TypeVar("T")
Insert = Callable[[sqlite3.Connection, list[tuple[Any, Any]]], None]


class BufferedSqlite:
    """One file: a read connection, a write buffer and its writer thread. Thread-safe.

    ``setup(db)`` runs on every new connection (pragmas, schema); ``insert(db,
    rows)`` writes ``(key, value)`` rows inside one transaction on the writer
    thread. ``advice`` ends the one warning shown while the file cannot be used.
    ``keep_open=False`` closes the connections after each read and each commit: for a
    file read rarely and written in batches (the call log), so a session that uses many
    such files does not hold three descriptors for each.
    """

    def __init__(self, path: Path, *, what: str, advice: str,
                 setup: Callable[[sqlite3.Connection], object], insert: Insert,
                 busy_timeout_s: float | None = None, keep_open: bool = True) -> None:
        self.path, self.what, self.advice, self.keep_open = path, what, advice, keep_open
        self._setup, self._insert_rows, self._busy_timeout_s = setup, insert, busy_timeout_s
        self._mem = threading.Lock()  # guards the dicts and _thread; held for dict work only
        self._pending: dict[Any, Any] = {}  # rows waiting for the writer
        self._writing: dict[Any, Any] = {}  # rows the writer is committing now
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
        self.read(lambda db: None, None)  # create the file (or move a corrupt one aside) now

    # -- reads -----------------------------------------------------------------------------
    def held(self, key: Any) -> Any:
        """A row still in memory (not yet committed), or ``None``."""
        with self._mem:
            value = self._pending.get(key)
            return value if value is not None else self._writing.get(key)

    def read(self, query: Callable[[sqlite3.Connection], T], default: T) -> T:
        """``query(db)`` on the read connection; ``default`` while the file cannot be used."""
        if time.monotonic() < self._skip_until:
            return default
        with self._read_lock:
            try:
                if self._reader_stale:
                    self._close_reader()
                if self._reader is None:
                    self._reader = self._open()
                return query(self._reader)
            except TROUBLE as err:
                self._close_reader()
                self.trouble(err)
                return default
            finally:
                if not self.keep_open:
                    self._close_reader()

    def _close_reader(self) -> None:
        self._reader_stale = False
        if self._reader is not None:
            with contextlib.suppress(sqlite3.Error):
                self._reader.close()
            self._reader = None

    # -- writes ----------------------------------------------------------------------------
    def put(self, key: Any, value: Any) -> None:
        """Keep a row; the writer thread commits it soon (never on the caller's thread)."""
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
            wait = not on_event_loop()
        if wait:
            self._write(force=True)
            return
        self._start_writer()
        self._has_rows.set()
        self._now.set()

    def close(self) -> None:
        """Commit what is held and close both connections (used again, they reopen)."""
        self.flush(wait=True)
        with self._write_lock:
            self._close_writer()
        with self._read_lock:
            self._close_reader()

    def _start_writer(self) -> None:
        with self._mem:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._writer_loop, daemon=True,
                    name=f"llm-magics {self.what} writer {self.path.name}")
                self._thread.start()

    def _writer_loop(self) -> None:
        while True:
            if not self._has_rows.wait(CACHE_WRITER_IDLE_S):
                with self._mem:  # put() adds rows under this lock: none can be missed
                    if not self._pending:
                        self._thread = None
                        break
                continue
            self._now.wait(CACHE_FLUSH_INTERVAL_S)
            self._has_rows.clear()
            self._now.clear()
            self._write(force=False)
            with self._mem:
                if self._pending:  # held after a failure: try again after the interval
                    self._has_rows.set()
        with self._write_lock:  # idle: hold no descriptors until the next write
            self._close_writer()

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
                self._commit(rows)
            except TROUBLE as err:
                self._close_writer()
                with self._mem:  # keep them for the next try; newer rows win
                    self._pending = {**self._writing, **self._pending}
                    self._writing = {}
                self.trouble(err)
                return
            with self._mem:
                self._writing = {}
            if not self.keep_open:
                self._close_writer()
            self._recovered()

    def _commit(self, rows: list[tuple[Any, Any]]) -> None:
        if self._writer_db is not None and not self.path.exists():
            log.warning("The %s %s was removed while in use; starting a new one at the same "
                        "path.", self.what, self.path)
            self._close_writer()
            self._reader_stale = True
        if self._writer_db is None:
            self._writer_db = self._open()
        db = self._writer_db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._insert_rows(db, rows)
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
        wait = CACHE_BUSY_TIMEOUT_S if self._busy_timeout_s is None else self._busy_timeout_s
        return open_database(self.path, what=self.what, busy_timeout_s=wait, setup=self._setup)

    def trouble(self, err: BaseException) -> None:
        """The file cannot be used: leave it alone for a while, and say so once."""
        self._skip_until = time.monotonic() + CACHE_RETRY_AFTER_S
        if self._warned:
            return
        self._warned = True
        log.warning("The %s %s cannot be used (%s: %s): %s", self.what, self.path,
                    type(err).__name__, err, self.advice)

    def _recovered(self) -> None:
        self._skip_until = 0.0
        if self._warned:
            self._warned = False
            log.info("The %s %s works again; held rows are stored.", self.what, self.path)


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
