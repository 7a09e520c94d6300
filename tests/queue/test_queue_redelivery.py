"""A worker killed with SIGKILL mid-run: every row still completes, and nothing is lost."""

from __future__ import annotations

import time
from collections import Counter

from queue_helpers import FAST, body, requests, submitter

from llm_magics.core.loop_thread import submit
from llm_magics.core.types import Response
from llm_magics.queue import QueueRun
from llm_magics.queue.app import make_app
from llm_magics.server.sim import expected_answer

ROWS = 120
CONCURRENCY = 4


def test_rows_held_by_a_killed_worker_are_redelivered_and_not_billed_twice(
        redis_url, sim, start_worker, tmp_path):
    sim.configure(latency_s=0.25)
    shared_cache = tmp_path / "workers.sqlite"  # both workers on one machine, one cache
    doomed = start_worker(sim.base_url, concurrency=CONCURRENCY, cache_path=shared_cache)
    start_worker(sim.base_url, concurrency=CONCURRENCY, cache_path=shared_cache)
    settings = submitter(redis_url, sim.base_url)
    reqs = requests(ROWS, sim.base_url)
    reported: Counter[int] = Counter()
    run = QueueRun(reqs, settings, config=FAST, on_result=lambda i, _: reported.update([i]))
    run.enqueue()
    collecting = submit(run.collect())

    while len(reported) < 30:
        time.sleep(0.02)
    app = make_app(redis_url, FAST)
    active = (app.control.inspect([doomed.name], timeout=1.0).active() or {}).get(doomed.name)
    doomed.kill()  # SIGKILL: no warm shutdown, its tasks stay unacked in Redis
    assert active, "the worker was killed while it held tasks"

    collecting.result(timeout=120)
    assert reported == Counter(range(ROWS))  # every row exactly once
    for req, out in zip(reqs, run.results, strict=True):
        assert isinstance(out, Response) and out.text == expected_answer(body(req))
    # Only calls in flight at the moment of the kill can be paid twice: whatever the
    # killed worker had finished was in the shared cache before its task was acked.
    extra = sim.stats["chat_requests"] - ROWS
    assert 0 <= extra <= CONCURRENCY
