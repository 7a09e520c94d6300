"""The batch job store: SQLite at ``settings.jobstore_path``, so jobs outlive the kernel.

A Batch API job runs for hours on the server; the notebook that started it
may be restarted long before it ends. Everything needed to find it again and
collect its results is kept here:

* ``jobs``: one row per job: where it went (base URL, model; never the key or
  any header), when, its input order (``positions``: the ``custom_id`` of each
  input, or ``null`` / a pre-send error), and its last known state.
* ``batches``: the server batches of a job (a job over the size limits, and
  every ``retry_failed()``, adds batches), their file ids, counts and errors.
* ``lines``: one row per distinct request: the JSONL line itself (to resend
  it on retry), the batch it is in now, and once known its result record and
  price.
* ``history``: every state a job or batch was seen in, timestamped.

One connection per store, guarded by a lock, in WAL mode so another process
(a second kernel, ``llm-magics jobs``) can read while this one writes.

    >>> store = JobStore(":memory:")
    >>> store.list_jobs()
    []
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from .constants import JOBSTORE_BUSY_TIMEOUT_S
from .jobstore_records import BatchRecord, JobRecord, LineCounts, RemoteBatch
from .jobstore_schema import SCHEMA_VERSION, setup
from .state_files import open_database, unusable_file_errors

__all__ = ["JobStore", "JobRecord", "RemoteBatch", "BatchRecord", "LineCounts", "get_store",
           "SCHEMA_VERSION"]


_BATCH_FIELDS = ("output_file_id", "error_file_id", "status", "total", "completed", "failed",
                 "errors", "fetched")


_FIX = ("If another process holds it (a second kernel, `llm-magics jobs`), retry when it is "
        "done; if it is read-only, on a full disk or not yours, fix that, or set "
        "jobstore_path=... to another file (the jobs recorded here are then not listed).")


class JobStore:
    """Jobs, their batches and lines, in one SQLite file (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        self._lock = threading.RLock()
        with self._lock, self._usable():
            if self.path is None:
                self._db = sqlite3.connect(":memory:", check_same_thread=False,
                                           isolation_level=None)
                setup(self._db)
            else:
                self._db = open_database(self.path, what="batch job store", setup=setup,
                                         busy_timeout_s=JOBSTORE_BUSY_TIMEOUT_S)

    def _usable(self) -> AbstractContextManager[None]:
        return unusable_file_errors(self.path, "batch job store", _FIX)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._usable():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._usable():
            return self._db.execute(sql, args).fetchall()

    # -- jobs ----------------------------------------------------------------------------
    def create_job(self, job: JobRecord, positions: list[Any],
                   lines: Iterable[tuple[str, str, str | None]],
                   cached: Iterable[tuple[str, str]] = ()) -> None:
        """Record a job before anything is uploaded, so a crash mid-submit leaves a trace.

        ``lines`` are ``(custom_id, jsonl_line, cache_key)``; ``cached`` are
        ``(custom_id, record_json)`` for lines answered from the response cache.
        """
        cached = dict(cached)
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, job.created_at, job.base_url, job.model, job.endpoint, job.size,
                 job.state, job.ended_at, _dump(job.metadata),
                 None if job.index_labels is None else _dump(job.index_labels),
                 _dump(positions), int(job.use_cache)),
            )
            db.executemany(
                "INSERT INTO lines (job_id, custom_id, seq, line, cache_key, ok, record) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((job.id, cid, seq, line, key, 1 if cid in cached else None, cached.get(cid))
                 for seq, (cid, line, key) in enumerate(lines)),
            )
            db.execute("INSERT INTO history VALUES (?, NULL, ?, ?)",
                       (job.id, job.state, job.created_at))

    def delete_job(self, job_id: str) -> None:
        with self._tx() as db:
            for table in ("history", "lines", "batches"):
                db.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def get_job(self, job_id: str) -> JobRecord | None:
        rows = self._query(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def list_jobs(self, limit: int | None = None) -> list[JobRecord]:
        """Jobs, newest first."""
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY created_at DESC"
        rows = self._query(sql + " LIMIT ?", (limit,)) if limit else self._query(sql)
        return [_job(r) for r in rows]

    def positions(self, job_id: str) -> list[Any]:
        rows = self._query("SELECT positions FROM jobs WHERE id = ?", (job_id,))
        return json.loads(rows[0][0]) if rows else []

    def set_job_state(self, job_id: str, state: str, ended_at: float | None) -> bool:
        """Store the job's state; record it in the history if it changed."""
        with self._tx() as db:
            row = db.execute("SELECT state, ended_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or (row[0], row[1]) == (state, ended_at):
                return False
            db.execute("UPDATE jobs SET state = ?, ended_at = ? WHERE id = ?",
                       (state, ended_at, job_id))
            if row[0] != state:
                db.execute("INSERT INTO history VALUES (?, NULL, ?, ?)",
                           (job_id, state, time.time()))
            return row[0] != state

    # -- batches -------------------------------------------------------------------------
    def add_batch(self, batch: BatchRecord, custom_ids: Sequence[str]) -> None:
        """A batch was created on the server: record it and move its lines into it."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO batches (id, job_id, seq, input_file_id, status, total, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (batch.id, batch.job_id, batch.seq, batch.input_file_id, batch.status,
                 batch.total, batch.created_at, batch.updated_at),
            )
            db.executemany(
                "UPDATE lines SET batch_id = ?, ok = NULL, record = NULL, prompt_tokens = 0, "
                "completion_tokens = 0, cost_usd = NULL, sync_cost_usd = NULL "
                "WHERE job_id = ? AND custom_id = ?",
                ((batch.id, batch.job_id, cid) for cid in custom_ids),
            )
            db.execute("INSERT INTO history VALUES (?, ?, ?, ?)",
                       (batch.job_id, batch.id, batch.status, batch.created_at))

    def batches(self, job_id: str) -> list[BatchRecord]:
        rows = self._query(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE job_id = ? ORDER BY seq",
                           (job_id,))
        return [_batch(r) for r in rows]

    def next_batch_seq(self, job_id: str) -> int:
        rows = self._query("SELECT COALESCE(MAX(seq) + 1, 0) FROM batches WHERE job_id = ?",
                           (job_id,))
        return int(rows[0][0])

    def update_batch(self, batch_id: str, **values: Any) -> bool:
        """Store what the server said about a batch; ``True`` if its status changed."""
        unknown = set(values) - set(_BATCH_FIELDS)
        if unknown:
            raise ValueError(f"unknown batch field(s): {sorted(unknown)}")
        if "errors" in values:
            values["errors"] = _dump(values["errors"] or [])
        if "fetched" in values:
            values["fetched"] = int(bool(values["fetched"]))
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT job_id, status FROM batches WHERE id = ?",
                             (batch_id,)).fetchone()
            if row is None:
                return False
            sets = ", ".join(f"{name} = ?" for name in values)
            db.execute(f"UPDATE batches SET {sets}, updated_at = ? WHERE id = ?",
                       (*values.values(), now, batch_id))
            changed = "status" in values and values["status"] != row[1]
            if changed:
                db.execute("INSERT INTO history VALUES (?, ?, ?, ?)",
                           (row[0], batch_id, values["status"], now))
            return changed

    # -- lines ---------------------------------------------------------------------------
    def lines_in(self, job_id: str, batch_id: str | None) -> list[str]:
        """custom_ids of the lines a batch holds (``None``: lines in no batch yet)."""
        if batch_id is None:
            rows = self._query("SELECT custom_id FROM lines WHERE job_id = ? AND batch_id IS NULL"
                               " AND ok IS NULL ORDER BY seq", (job_id,))
        else:
            rows = self._query("SELECT custom_id FROM lines WHERE job_id = ? AND batch_id = ? "
                               "ORDER BY seq", (job_id, batch_id))
        return [r[0] for r in rows]

    def line_texts(self, job_id: str, custom_ids: Sequence[str]) -> list[str]:
        """The JSONL lines for ``custom_ids``, in that order (what a retry re-uploads)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(custom_ids), 500):
            marks = ",".join("?" * len(chunk))
            found.update(self._query(
                f"SELECT custom_id, line FROM lines WHERE job_id = ? AND custom_id IN ({marks})",
                (job_id, *chunk)))
        return [found[cid] for cid in custom_ids]

    def retryable_lines(self, job_id: str) -> list[str]:
        """Lines that ended without an answer and are in no running batch, in input order."""
        rows = self._query(
            "SELECT l.custom_id FROM lines l LEFT JOIN batches b ON b.id = l.batch_id "
            "WHERE l.job_id = ? AND (l.ok = 0 OR (l.ok IS NULL AND l.batch_id IS NULL)) "
            "AND (b.id IS NULL OR b.fetched = 1) ORDER BY l.seq", (job_id,))
        return [r[0] for r in rows]

    def cache_keys(self, job_id: str, custom_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(list(custom_ids), 500):
            marks = ",".join("?" * len(chunk))
            found.update(self._query(
                f"SELECT custom_id, cache_key FROM lines WHERE job_id = ? AND cache_key IS NOT "
                f"NULL AND custom_id IN ({marks})", (job_id, *chunk)))
        return found

    def store_results(self, job_id: str, results: Iterable[Any],
                      batch_id: str | None = None) -> None:
        """Keep each line's result record and price (``jsonl.LineResult``); mark the batch read.

        One transaction: a batch's results are all stored or none are, so a
        crash mid-download means the download simply runs again.
        """
        with self._tx() as db:
            db.executemany(
                "UPDATE lines SET ok = ?, record = ?, prompt_tokens = ?, completion_tokens = ?, "
                "cost_usd = ?, sync_cost_usd = ? WHERE job_id = ? AND custom_id = ?",
                ((int(r.ok), r.record, r.prompt_tokens, r.completion_tokens, r.cost_usd,
                  r.sync_cost_usd, job_id, r.custom_id) for r in results),
            )
            if batch_id is not None:
                db.execute("UPDATE batches SET fetched = 1, updated_at = ? WHERE id = ?",
                           (time.time(), batch_id))

    def records(self, job_id: str) -> dict[str, str | None]:
        """custom_id -> stored result record (``None`` while it has none)."""
        return dict(self._query("SELECT custom_id, record FROM lines WHERE job_id = ?",
                                (job_id,)))

    def counts(self, job_id: str) -> LineCounts:
        rows = self._query(
            "SELECT batch_id, ok, batch_id IS NULL AND ok = 1, COUNT(*), SUM(prompt_tokens), "
            "SUM(completion_tokens), SUM(cost_usd), SUM(sync_cost_usd) FROM lines "
            "WHERE job_id = ? GROUP BY batch_id, ok", (job_id,))
        total = ok = failed = cached = prompt = completion = 0
        cost: float | None = None
        sync: float | None = None
        pending: dict[str | None, int] = {}
        failed_by: dict[str | None, int] = {}
        for batch_id, state, is_cached, n, p, c, cost_part, sync_part in rows:
            total += n
            if state == 1:
                ok += n
                cached += n if is_cached else 0
            elif state == 0:
                failed += n
                failed_by[batch_id] = failed_by.get(batch_id, 0) + n
            else:
                pending[batch_id] = pending.get(batch_id, 0) + n
            prompt += p or 0
            completion += c or 0
            if cost_part is not None:
                cost = (cost or 0.0) + cost_part
            if sync_part is not None:
                sync = (sync or 0.0) + sync_part
        return LineCounts(total, ok, failed, cached, pending, failed_by, prompt, completion,
                          cost, sync)

    # -- history -------------------------------------------------------------------------
    def history(self, job_id: str) -> list[tuple[float, str | None, str]]:
        """``(timestamp, batch id or None for the job, status)``, oldest first."""
        return [tuple(r) for r in self._query(  # type: ignore[misc]
            "SELECT at, batch_id, status FROM history WHERE job_id = ? ORDER BY at, rowid",
            (job_id,))]

    def close(self) -> None:
        with self._lock:
            self._db.close()


_JOB_COLUMNS = ("id, created_at, base_url, model, endpoint, size, state, ended_at, metadata, "
                "index_labels, use_cache")
_BATCH_COLUMNS = ("id, job_id, seq, input_file_id, status, output_file_id, error_file_id, total, "
                  "completed, failed, errors, created_at, updated_at, fetched")


def _job(row: tuple[Any, ...]) -> JobRecord:
    *head, metadata, labels, use_cache = row
    return JobRecord(*head, metadata=json.loads(metadata or "{}"),
                     index_labels=None if labels is None else json.loads(labels),
                     use_cache=bool(use_cache))


def _batch(row: tuple[Any, ...]) -> BatchRecord:
    (batch_id, job_id, seq, input_file_id, status, output_file_id, error_file_id, total,
     completed, failed, errors, created_at, updated_at, fetched) = row
    return BatchRecord(batch_id, status, output_file_id, error_file_id, total, completed, failed,
                       json.loads(errors or "[]"), job_id=job_id, seq=seq,
                       input_file_id=input_file_id, created_at=created_at,
                       updated_at=updated_at, fetched=bool(fetched))


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


_stores: dict[Path, JobStore] = {}
_stores_lock = threading.Lock()


def get_store(path: Path | str) -> JobStore:
    """One store object per file in the process."""
    key = Path(path).expanduser().resolve()
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = JobStore(key)
        return store
