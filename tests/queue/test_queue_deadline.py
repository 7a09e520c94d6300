"""``deadline_s`` bounds the wait for queued rows: stopped workers end it with a clear error."""

from __future__ import annotations

import signal
import time

from queue_helpers import MODEL, requests, submitter, tag

import llm_magics
from llm_magics import errors
from llm_magics.core.loop_thread import run_sync
from llm_magics.core.types import Response
from llm_magics.queue import QueueConfig, QueueRun

# The stall check (no result for 15 s -> NoWorkerError) stays at its default, so an
# error before it can only come from the deadline.
CONFIG = QueueConfig(poll_interval_s=0.05)
DEADLINE_S = 5.0
RUN_DEADLINE_S = 3.0


def test_a_queued_fanout_against_stopped_workers_ends_at_deadline_s_saying_so(
        redis_url, sim, start_worker):
    sim.configure(latency_s=0.5)
    worker = start_worker(sim.base_url, concurrency=2, config=CONFIG)
    run = QueueRun(requests(20, sim.base_url),
                   submitter(redis_url, sim.base_url, deadline_s=DEADLINE_S), config=CONFIG)
    run.enqueue()
    worker.kill(signal.SIGSTOP)  # stopped, not dead: it holds its tasks and answers nothing
    try:
        started = time.monotonic()
        out = run_sync(run.collect())
        took = time.monotonic() - started
    finally:
        worker.kill(signal.SIGCONT)
    assert took < CONFIG.stall_check_s  # the deadline ended it, well before the stall check
    timed_out = [r for r in out if isinstance(r, errors.APITimeoutError)]
    assert len(timed_out) + sum(isinstance(r, Response) for r in out) == 20
    assert len(timed_out) >= 18  # at most the two rows running at the stop could finish
    assert "deadline_s=5 passed while this row waited for the queue's workers" in (
        timed_out[0].message)
    assert "llm-magics worker" in timed_out[0].message
    print(f"\nqueued fan-out with deadline_s={DEADLINE_S:g}, worker stopped: ended after "
          f"{took:.1f}s with {len(timed_out)} rows timed out")



def test_map_in_queue_mode_ends_at_the_runs_deadline_keeping_what_finished(
        redis_url, sim, start_worker):
    """``map(mode="queue", deadline=...)``: one slow worker cannot finish 40 rows in time
    (20 s of calls); the run returns at its deadline, answered rows kept, the rest revoked."""
    sim.configure(latency_s=0.5)
    start_worker(sim.base_url, concurrency=1, config=CONFIG)
    llm_magics.configure(redis_url=redis_url, base_url=sim.base_url, model=MODEL)
    prompts = [f"{tag()} run deadline {i}" for i in range(40)]
    started = time.monotonic()
    out = llm_magics.map(prompts, mode="queue", deadline=RUN_DEADLINE_S)
    took = time.monotonic() - started
    answered = [r for r in out if isinstance(r, Response)]
    missed = [r for r in out if isinstance(r, errors.DeadlineExceededError)]
    assert len(answered) + len(missed) == 40
    assert 1 <= len(answered) < 40 and len(missed) >= 20
    assert "run's deadline passed" in missed[-1].message
    assert RUN_DEADLINE_S <= took < RUN_DEADLINE_S + 10  # 40 calls in a row would take 20 s
    print(f"\nqueue map with deadline={RUN_DEADLINE_S:g}s: returned after {took:.1f}s, "
          f"{len(answered)} answered, {len(missed)} past the deadline")
