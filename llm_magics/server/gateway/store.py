"""The gateway's durable state: files on disk, batches and per-line results in SQLite.

Every finished batch line is committed on its own the moment its answer
arrives (WAL, ``synchronous=NORMAL``: no fsync, yet a commit survives the
process being killed), so a restart re-runs only lines that had no answer.
File bytes live next to the database, written to a temporary name and
renamed, so a crash never leaves a half-written file under a real id.

One connection serves the event loop and the worker threads that parse and
write large files; a lock keeps them from interleaving. An exclusive lock on
``gateway.lock`` keeps a second gateway off the same directory (two would both
resume the same batches and run their lines twice); the OS drops it when the
process dies, however it dies, so a restart after a crash is never blocked.

Every file and batch records its tenant (a hash of the client key that
created it, never the key); reads take the tenant and see only its own rows.
The directory is 0700 and every file in it 0600: it holds other people's data.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ...errors import ConfigurationError
from ..batch_api import BatchLine, FileRecord, ServedBatch
from ..private_files import private_dir, private_file

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process guard
    fcntl = None  # type: ignore[assignment]

__all__ = ["GatewayStore", "PendingLine"]

PendingLine = tuple[int, str, dict[str, Any]]
"""``(index, custom_id, body)`` of a line still to run."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, filename TEXT NOT NULL, purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, owner TEXT,
    tenant TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY, data TEXT NOT NULL, tenant TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS lines (
    batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT NOT NULL,
    body TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0, ok INTEGER, record TEXT,
    PRIMARY KEY (batch_id, idx)
);
CREATE INDEX IF NOT EXISTS lines_pending ON lines (batch_id, done);
"""


_FILE_COLUMNS = "id, filename, purpose, bytes, created_at"


def _add_tenant_columns(db: sqlite3.Connection) -> None:
    """State from before tenants: its rows belong to the keyless tenant ``''``."""
    for table in ("files", "batches"):
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if "tenant" not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN tenant TEXT NOT NULL DEFAULT ''")


def _lock_dir(directory: Path) -> IO[str]:
    """Hold an exclusive lock on ``directory/gateway.lock`` for as long as the file is open."""
    handle = open(private_file(directory / "gateway.lock"), "a+")  # noqa: SIM115 - held until close()
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ConfigurationError(
                f"Another gateway is using the state directory {directory}; stop it, or "
                "give this one its own --state-dir."
            ) from None
    return handle


class GatewayStore:
    """SQLite at ``state_dir/gateway.sqlite`` plus ``state_dir/files/<id>``."""

    def __init__(self, state_dir: Path | str) -> None:
        self.dir = Path(state_dir)
        self.files_dir = self.dir / "files"
        private_dir(self.dir)
        private_dir(self.files_dir)
        self._lock_file = _lock_dir(self.dir)
        self.path = private_file(self.dir / "gateway.sqlite")  # its -wal/-shm copy the mode
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        _add_tenant_columns(self._db)
        self._lock = threading.Lock()

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement under the lock (one connection serves every thread); its rows."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _change(self, sql: str, args: tuple[Any, ...]) -> int:
        """Run one write under the lock; how many rows it changed."""
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._lock_file.close()  # releases the directory lock

    # ------------------------------------------------------------------ files

    def file_path(self, file_id: str) -> Path:
        return self.files_dir / file_id

    def add_file(self, record: FileRecord, source: IO[bytes], tenant: str) -> FileRecord:
        """Copy ``source`` in (``record.bytes`` is set from what was written)."""
        partial = self.file_path(record.id).with_suffix(".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        return self.adopt_file(record, partial, tenant=tenant)

    def adopt_file(self, record: FileRecord, path: Path, owner: str | None = None, *,
                   tenant: str) -> FileRecord:
        """Move a file the gateway wrote itself (an output file) under ``record.id``."""
        final = self.file_path(record.id)
        os.replace(path, final)
        record.bytes = final.stat().st_size
        self._change("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (record.id, record.filename, record.purpose, record.bytes,
                      record.created_at, owner, tenant))
        return record

    def files(self, tenant: str) -> list[FileRecord]:
        rows = self._query(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE tenant = ? ORDER BY rowid DESC", (tenant,))
        return [FileRecord(*row) for row in rows]

    def bytes_of(self, tenant: str) -> int:
        """What ``tenant``'s files take on disk, uploads and batch outputs."""
        (row,) = self._query("SELECT COALESCE(SUM(bytes), 0) FROM files WHERE tenant = ?",
                             (tenant,))
        return int(row[0])

    def get_file(self, file_id: str, tenant: str) -> FileRecord | None:
        rows = self._query(f"SELECT {_FILE_COLUMNS} FROM files WHERE id = ? AND tenant = ?",
                           (file_id, tenant))
        return FileRecord(*rows[0]) if rows else None

    def delete_file(self, file_id: str) -> None:
        self._change("DELETE FROM files WHERE id = ?", (file_id,))
        self.file_path(file_id).unlink(missing_ok=True)

    def delete_files_of(self, owner: str) -> None:
        """Drop files a batch wrote before a crash cut its finalizing short."""
        for (file_id,) in self._query("SELECT id FROM files WHERE owner = ?", (owner,)):
            self.delete_file(file_id)

    # ------------------------------------------------------------------ batches

    def save_batch(self, record: ServedBatch, tenant: str = "") -> None:
        """Insert (owned by ``tenant``) or update the data; the owner never changes."""
        self._change("INSERT INTO batches VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET data = "
                     "excluded.data", (record.id, record.to_json(), tenant))

    def get_batch(self, batch_id: str, tenant: str) -> ServedBatch | None:
        rows = self._query("SELECT data FROM batches WHERE id = ? AND tenant = ?",
                           (batch_id, tenant))
        return ServedBatch.from_json(rows[0][0]) if rows else None

    def batches(self, tenant: str | None) -> list[tuple[ServedBatch, str]]:
        """``(batch, tenant)`` pairs, newest first: one tenant's, or every one (``None``)."""
        query = "SELECT data, tenant FROM batches"
        args: tuple[str, ...] = ()
        if tenant is not None:
            query, args = query + " WHERE tenant = ?", (tenant,)
        rows = self._query(query + " ORDER BY rowid DESC", args)
        return [(ServedBatch.from_json(data), owner) for data, owner in rows]

    # ------------------------------------------------------------------ lines

    def replace_lines(self, batch_id: str, lines: list[BatchLine]) -> None:
        """Store a batch's validated lines (again, if validation is being redone)."""
        rows = [(batch_id, i, line.custom_id, json.dumps(line.body, separators=(",", ":")))
                for i, line in enumerate(lines)]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute("DELETE FROM lines WHERE batch_id = ?", (batch_id,))
                self._db.executemany(
                    "INSERT INTO lines (batch_id, idx, custom_id, body) VALUES (?, ?, ?, ?)",
                    rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def pending_lines(self, batch_id: str) -> list[PendingLine]:
        rows = self._query("SELECT idx, custom_id, body FROM lines WHERE batch_id = ? AND done = 0 "
                           "ORDER BY idx", (batch_id,))
        return [(idx, cid, json.loads(body)) for idx, cid, body in rows]

    def finish_line(self, batch_id: str, idx: int, ok: bool, record: str) -> bool:
        """Commit one line's output/error record; False if it was already finished."""
        return self._change("UPDATE lines SET done = 1, ok = ?, record = ? "
                            "WHERE batch_id = ? AND idx = ? AND done = 0",
                            (int(ok), record, batch_id, idx)) == 1

    def line_counts(self, batch_id: str) -> tuple[int, int, int]:
        """``(total, completed, failed)`` from the lines table, the truth after a restart."""
        (row,) = self._query(
            "SELECT COUNT(*), COALESCE(SUM(done AND ok), 0), COALESCE(SUM(done AND NOT ok), 0) "
            "FROM lines WHERE batch_id = ?", (batch_id,))
        return int(row[0]), int(row[1]), int(row[2])

    def records(self, batch_id: str, ok: bool) -> Iterator[str]:
        """Finished records of one kind, in input order (read in pages, not all at once)."""
        last = -1
        while True:
            rows = self._query(
                "SELECT idx, record FROM lines WHERE batch_id = ? AND done = 1 AND ok = ? "
                "AND idx > ? ORDER BY idx LIMIT 1000", (batch_id, int(ok), last))
            if not rows:
                return
            for idx, record in rows:
                last = idx
                yield record
