"""The call log: one SQLite row per call outcome, in its own private file next to the cache.

Rows are written by the shared ``BufferedSqlite`` writer thread, so recording
costs the caller a tuple and a dict insert, and a log file that is locked,
full or read-only never fails a call (rows wait in memory, one warning). The
writer also applies the retention: rows older than ``history_max_age_days`` or
beyond the newest ``history_max_rows`` are dropped every ``HISTORY_PRUNE_EVERY_S``.
No key, header or credential is ever a column.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..buffered_sqlite import BufferedSqlite
from ..constants import HISTORY_PRUNE_EVERY_S

__all__ = ["COLUMNS", "CallLog", "get_call_log", "flush_logs"]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "REAL NOT NULL"), ("face", "TEXT"), ("mode", "TEXT"), ("model", "TEXT"),
    ("host", "TEXT"), ("status", "TEXT NOT NULL"), ("error_kind", "TEXT"),
    ("prompt_tokens", "INTEGER"), ("completion_tokens", "INTEGER"), ("cost_usd", "REAL"),
    ("latency_s", "REAL"), ("ttft_s", "REAL"), ("retries", "INTEGER"), ("cached", "INTEGER"),
    ("finish_reason", "TEXT"), ("cell", "INTEGER"), ("job_id", "TEXT"), ("client", "TEXT"),
    ("messages", "TEXT"), ("answer", "TEXT"),
)
"""The columns of a row, in order (``id`` comes first in the file)."""

_NAMES = ",".join(name for name, _ in COLUMNS)
_SCHEMA = (f"CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY AUTOINCREMENT, "
           f"{', '.join(f'{n} {t}' for n, t in COLUMNS)})")
_INSERT = f"INSERT INTO calls ({_NAMES}) VALUES ({','.join('?' * len(COLUMNS))})"
_ADVICE = ("calls go on and their rows are held in memory until it can be written. Another "
           "process may hold it locked, or the disk is full or read-only: close that process, "
           "free space, or set history_path=... to another file (history=False turns the "
           "call log off).")


def _setup(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(_SCHEMA)
    db.execute("CREATE INDEX IF NOT EXISTS calls_ts ON calls (ts)")


class CallLog:
    """One log file; ``get_call_log(path)`` gives the process-wide one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid = os.getpid()
        self.max_age_s: float | None = None
        self.max_rows: int | None = None
        self._pruned_at = 0.0
        self._seq = itertools.count()
        self.store = BufferedSqlite(path, what="call log", advice=_ADVICE, setup=_setup,
                                    insert=self._insert, keep_open=False)

    def retain(self, max_age_days: float | None, max_rows: int | None) -> None:
        self.max_age_s = max_age_days * 86400 if max_age_days is not None else None
        self.max_rows = max_rows

    def add(self, row: tuple[Any, ...]) -> None:
        """Keep one row (a tuple in ``COLUMNS`` order); written soon, off the caller's thread."""
        self.store.put(next(self._seq), row)

    def _insert(self, db: sqlite3.Connection, rows: list[tuple[Any, Any]]) -> None:
        db.executemany(_INSERT, [row for _, row in rows])  # in the order they were added
        now = time.monotonic()
        if now - self._pruned_at >= HISTORY_PRUNE_EVERY_S:
            self._pruned_at = now
            self.prune(db)

    def prune(self, db: sqlite3.Connection) -> None:
        """Drop rows past the retention (inside the writer's transaction)."""
        if self.max_age_s is not None:
            db.execute("DELETE FROM calls WHERE ts < ?", (time.time() - self.max_age_s,))
        if self.max_rows is not None:
            db.execute("DELETE FROM calls WHERE id <= (SELECT id FROM calls ORDER BY id DESC "
                       "LIMIT 1 OFFSET ?)", (self.max_rows,))

    def rows(self, *, since: float | None = None, until: float | None = None,
             model: str | None = None, client: str | None = None,
             limit: int | None = None) -> list[tuple[Any, ...]]:
        """Rows (``id`` first, then ``COLUMNS``) oldest first; ``limit`` keeps the newest."""
        self.store.flush(wait=True)
        where, args = _filters(since=since, until=until, model=model, client=client)
        sql = f"SELECT id,{_NAMES} FROM calls{where} ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        found = self.store.read(lambda db: db.execute(sql, args).fetchall(), [])
        found.reverse()
        return found


def _filters(**given: Any) -> tuple[str, list[Any]]:
    ops = {"since": "ts >= ?", "until": "ts < ?", "model": "model = ?", "client": "client = ?"}
    parts = [(ops[name], value) for name, value in given.items() if value is not None]
    if not parts:
        return "", []
    return " WHERE " + " AND ".join(p for p, _ in parts), [v for _, v in parts]


_logs: dict[str, CallLog] = {}
_logs_lock = threading.Lock()


def get_call_log(path: Path | str) -> CallLog:
    """One log object per file in the process (looked up by the path's text first: this runs
    on every call); a forked child gets its own."""
    given = os.fspath(path)
    log = _logs.get(given)
    if log is not None and log.pid == os.getpid():
        return log
    resolved = Path(given).expanduser().resolve()
    with _logs_lock:
        log = _logs.get(str(resolved))
        if log is None or log.pid != os.getpid():
            log = _logs[str(resolved)] = CallLog(resolved)
        _logs[given] = log
        return log


def flush_logs() -> None:
    """Write every buffered row of this process and wait for it (at exit)."""
    with _logs_lock:
        logs = [log for log in {id(x): x for x in _logs.values()}.values()
                if log.pid == os.getpid()]
    for log in logs:
        log.store.flush(wait=True)


atexit.register(flush_logs)
