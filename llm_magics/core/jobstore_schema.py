"""The job store's on-disk layout: four tables (see ``core.jobstore``) and the pragmas.

Kept apart from the store's logic so the schema reads in one piece.
"""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA_VERSION", "setup"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    base_url TEXT NOT NULL,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    ended_at REAL,
    metadata TEXT NOT NULL DEFAULT '{}',
    index_labels TEXT,
    positions TEXT NOT NULL,
    use_cache INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    input_file_id TEXT NOT NULL,
    output_file_id TEXT,
    error_file_id TEXT,
    status TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    fetched INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS batches_job ON batches(job_id, seq);
CREATE TABLE IF NOT EXISTS lines (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    custom_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    line TEXT NOT NULL,
    cache_key TEXT,
    batch_id TEXT,
    ok INTEGER,
    record TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL,
    sync_cost_usd REAL,
    PRIMARY KEY (job_id, custom_id)
);
CREATE INDEX IF NOT EXISTS lines_batch ON lines(job_id, batch_id, ok);
CREATE TABLE IF NOT EXISTS history (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    batch_id TEXT,
    status TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS history_job ON history(job_id, at);
"""


def setup(db: sqlite3.Connection) -> None:
    """Pragmas and tables on a fresh connection (idempotent)."""
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(_SCHEMA)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
