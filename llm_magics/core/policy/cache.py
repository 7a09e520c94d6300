"""The response cache: SQLite on disk, keyed by a hash of the whole request.

It makes a re-run free and an interrupted fan-out resumable. Writes are
buffered and committed in small transactions (every ``FLUSH_EVERY`` answers or
``FLUSH_INTERVAL_S``), and flushed when a fan-out ends or is interrupted, so
committing does not dominate a 10,000-row run and finished rows are kept.
Only successful answers are stored; no key or header ever is.
"""

from __future__ import annotations

import atexit
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..types import Response

__all__ = ["ResponseCache", "get_cache", "flush_all"]

FLUSH_EVERY = 200
FLUSH_INTERVAL_S = 1.0
_LOOKUP_CHUNK = 500


class ResponseCache:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
            "created REAL NOT NULL)"
        )
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}
        self._last_flush = time.monotonic()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Response | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Response]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Response] = {}
        with self._lock:
            for k in keys:
                if k in self._pending:
                    found[k] = Response.from_dict(json.loads(self._pending[k]), cached=True)
            rest = [k for k in keys if k not in found]
            for i in range(0, len(rest), _LOOKUP_CHUNK):
                chunk = rest[i : i + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk
                ).fetchall()
                for k, v in rows:
                    found[k] = Response.from_dict(json.loads(v), cached=True)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put(self, key: str, response: Response) -> None:
        with self._lock:
            self._pending[key] = json.dumps(response.to_dict(), separators=(",", ":"))
            due = (len(self._pending) >= FLUSH_EVERY
                   or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S)
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._pending:
                return
            now = time.time()
            rows = [(k, v, now) for k, v in self._pending.items()]
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")
            self._pending.clear()
            self._last_flush = time.monotonic()

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._db.execute("DELETE FROM responses")

    def __len__(self) -> int:
        self.flush()
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def stats(self) -> dict[str, Any]:
        return {"path": str(self.path), "hits": self.hits, "misses": self.misses}


_caches: dict[Path | str, ResponseCache] = {}
_caches_lock = threading.Lock()


def get_cache(path: Path | str) -> ResponseCache:
    """One cache object per file in the process (looked up by the path as given, then
    by its resolved form, so the filesystem is touched once per path, not per call)."""
    cache = _caches.get(path)  # type: ignore[arg-type]
    if cache is not None:
        return cache
    resolved = Path(path).expanduser().resolve()
    with _caches_lock:
        cache = _caches.get(resolved)
        if cache is None:
            cache = _caches[resolved] = ResponseCache(resolved)
        _caches[path] = cache  # type: ignore[index]
        return cache


def flush_all() -> None:
    with _caches_lock:
        caches = list({id(c): c for c in _caches.values()}.values())
    for cache in caches:
        cache.flush()


atexit.register(flush_all)
