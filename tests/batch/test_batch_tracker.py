"""The tracker widget follows jobs by itself, from the core's loop, and stops at the end."""

from __future__ import annotations

import time

import pytest
from batch_helpers import POLL

import llm_magics.batch as batch
from llm_magics.jupyter.batch_tracker import BatchTracker
from tests.support.sim import Simulator


def test_the_tracker_moves_from_validating_to_completed_without_a_rerun(llm):
    llm.configure(batch_step_s=0.15)
    job = batch.submit([f"track {i}" for i in range(8)], cache=False)
    tracker = BatchTracker([job], poll=POLL, start=False)
    row = tracker.rows[0]
    states = [row.state]
    row.observe(lambda change: states.append(change["new"]), names="state")
    tracker.start()
    assert tracker.active
    assert tracker.wait(timeout=10)

    assert states == ["validating", "in_progress", "finalizing", "completed"]
    assert not tracker.active and tracker.done
    assert (row.completed, row.failed, row.total) == (8, 0, 8)
    assert row.cost_usd > 0 and row.saving_usd == pytest.approx(row.cost_usd)
    assert row.elapsed_s >= 0.3  # three 0.15 s steps went by
    assert "completed" in row._name.value and job.id in row._name.value
    assert "8 done / 0 failed / 8" in row._info.value and "saved $" in row._info.value
    assert row._bar.value == row._bar.max == 8 and row._bar.bar_style == "success"


def test_the_tracker_draws_live_counts_while_the_batch_runs(llm):
    llm.configure(batch_line_s=0.01)
    job = batch.submit([f"count {i}" for i in range(40)], cache=False)
    tracker = BatchTracker(job, poll=POLL)
    row = tracker.rows[0]
    seen: list[int] = []
    row.observe(lambda change: seen.append(change["new"]), names="completed")
    assert tracker.wait(timeout=10)
    assert row.state == "completed" and row.completed == 40
    assert len(seen) >= 3 and seen == sorted(seen)  # progress arrived in steps, never backwards


def test_a_tracker_of_ended_jobs_does_not_poll(llm):
    job = batch.submit(["already done"], cache=False).wait(poll=POLL)
    tracker = BatchTracker([job], poll=POLL)
    assert not tracker.active and tracker.done and tracker.rows[0].state == "completed"
    assert tracker.wait(0) is True
    assert "completed 1/1" in repr(tracker)


def test_a_retryable_poll_failure_is_shown_and_polling_goes_on(llm):
    job = batch.submit(["unreachable later"], cache=False)
    moved = batch.get_job(job.id, base_url="http://127.0.0.1:9/v1", max_retries=0)
    tracker = BatchTracker([moved], poll=POLL)
    row = tracker.rows[0]
    deadline = time.monotonic() + 5
    while not row.message:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert "Cannot reach http://127.0.0.1:9/v1" in row.message
    assert tracker.active  # a connection error may pass: keep polling
    tracker.stop()
    assert tracker.wait(2) and not tracker.active


def test_a_job_the_server_does_not_know_stops_its_row(llm):
    job = batch.submit(["unknown elsewhere"], cache=False)
    with Simulator() as other:
        stranger = batch.get_job(job.id, base_url=other.base_url)
        tracker = BatchTracker([stranger], poll=POLL)
        assert tracker.wait(5)
    row = tracker.rows[0]
    assert row.message.startswith("stopped:") and "(404)" in row.message
    assert not tracker.active


def test_an_empty_tracker_says_how_to_start(llm):
    tracker = BatchTracker([], poll=POLL)
    assert tracker.done and not tracker.active
    assert "%llm_batch submit" in tracker.children[0].value
