"""The SQLite job store: what survives a restart, what is never written."""

from __future__ import annotations

import sqlite3

from llm_magics.core.batch.jsonl import LineResult
from llm_magics.core.batch.summary import job_state, summarize
from llm_magics.core.jobstore import BatchRecord, JobRecord, JobStore

LINES = [("req-0-a", '{"custom_id":"req-0-a"}', "key-a"), ("req-1-b", '{"custom_id":"req-1-b"}',
                                                           "key-b")]


def make_job(store: JobStore, job_id: str = "job_1", created_at: float = 100.0) -> JobRecord:
    job = JobRecord(job_id, created_at, "http://sim/v1", "gpt-4o-mini", "/v1/chat/completions",
                    size=3, state="submitting", metadata={"source": "test"},
                    index_labels=["x", "y", "z"])
    store.create_job(job, ["req-0-a", None, "req-1-b"], LINES)
    return job


def batch(job_id: str, batch_id: str, seq: int, status: str = "validating") -> BatchRecord:
    return BatchRecord(batch_id, status, total=2, job_id=job_id, seq=seq,
                       input_file_id=f"file-{seq}", created_at=101.0, updated_at=101.0)


def test_a_job_and_its_batches_survive_reopening_the_file(tmp_path):
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    make_job(store)
    store.add_batch(batch("job_1", "batch_a", 0), ["req-0-a", "req-1-b"])
    store.update_batch("batch_a", status="completed", output_file_id="file-out", completed=2)
    store.close()

    again = JobStore(path)
    job = again.get_job("job_1")
    assert (job.base_url, job.model, job.size) == ("http://sim/v1", "gpt-4o-mini", 3)
    assert job.metadata == {"source": "test"} and job.index_labels == ["x", "y", "z"]
    assert again.positions("job_1") == ["req-0-a", None, "req-1-b"]
    [b] = again.batches("job_1")
    assert (b.id, b.input_file_id, b.output_file_id, b.status, b.completed) == (
        "batch_a", "file-0", "file-out", "completed", 2)
    assert again.lines_in("job_1", "batch_a") == ["req-0-a", "req-1-b"]
    assert again.line_texts("job_1", ["req-1-b"]) == ['{"custom_id":"req-1-b"}']


def test_jobs_are_listed_newest_first(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    make_job(store, "old", created_at=1.0)
    make_job(store, "new", created_at=2.0)
    assert [j.id for j in store.list_jobs()] == ["new", "old"]
    assert [j.id for j in store.list_jobs(limit=1)] == ["new"]


def test_status_changes_are_recorded_with_timestamps(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    make_job(store)
    store.add_batch(batch("job_1", "batch_a", 0), ["req-0-a", "req-1-b"])
    assert store.update_batch("batch_a", status="in_progress") is True
    assert store.update_batch("batch_a", status="in_progress", completed=1) is False
    store.set_job_state("job_1", "in_progress", None)
    history = store.history("job_1")
    assert [(b, s) for _, b, s in history] == [
        (None, "submitting"), ("batch_a", "validating"), ("batch_a", "in_progress"),
        (None, "in_progress")]
    times = [t for t, _, _ in history]
    assert times == sorted(times) and times[-1] > 1_000_000_000  # real unix times


def test_retryable_lines_are_the_failed_ones_in_finished_batches(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    make_job(store)
    store.add_batch(batch("job_1", "batch_a", 0), ["req-0-a", "req-1-b"])
    assert store.retryable_lines("job_1") == []  # still running
    store.update_batch("batch_a", status="expired")
    store.store_results("job_1", [LineResult("req-0-a", True, "{}", 1, 2, 0.5, 1.0),
                                  LineResult("req-1-b", False, "{}")], batch_id="batch_a")
    assert store.retryable_lines("job_1") == ["req-1-b"]
    counts = store.counts("job_1")
    assert (counts.total, counts.ok, counts.failed) == (2, 1, 1)
    assert (counts.cost_usd, counts.sync_cost_usd) == (0.5, 1.0)
    assert job_state(store.batches("job_1"), counts.failed_by_batch) == "expired"

    store.add_batch(batch("job_1", "batch_b", 1), ["req-1-b"])  # the retry
    assert store.lines_in("job_1", "batch_b") == ["req-1-b"]
    assert summarize(store, store.get_job("job_1")).state == "validating"


def test_the_file_holds_no_key_and_no_header(tmp_path):
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    make_job(store)
    columns = {row[1] for table in ("jobs", "batches", "lines", "history")
               for row in sqlite3.connect(path).execute(f"PRAGMA table_info({table})")}
    assert not {c for c in columns if "key" in c and c != "cache_key"}
    assert not {c for c in columns if "header" in c or "auth" in c}
