"""Two workers share one account's limit: 600 rows at 300 RPM, near the limit, almost no 429s.

This takes about two minutes by nature (600 requests at 5 per second).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from queue_helpers import FAST, WORKER_KEY, requests, submitter

import llm_magics
from llm_magics.core.types import Response
from llm_magics.queue import run_requests
from tests.support.rates import most_in_any_window, window_bound
from tests.support.sim import SimulatorProcess

RPM = 300
ROWS = 600
BURST = RPM / 60 * FAST.burst_s  # what the shared bucket may bank
# Redelivery is not under test here: a visibility timeout well above a task's wait in
# the limiter (about 16 slots x 0.2 s) keeps a slow-but-alive task from being re-sent.
CONFIG = FAST.replace(visibility_timeout_s=60.0)


@pytest.fixture
def limited_sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess(api_key=WORKER_KEY, rpm=RPM, latency_s=0.2) as sim:
        yield sim


def test_two_workers_together_stay_within_the_limit_and_use_most_of_it(
        redis_url, limited_sim, start_worker):
    for _ in range(2):
        start_worker(limited_sim.base_url, concurrency=8, config=CONFIG)
    stats = llm_magics.CallStats()
    settings = submitter(redis_url, limited_sim.base_url, rpm=RPM)  # the limit, stated once
    out = run_requests(requests(ROWS, limited_sim.base_url), settings, config=CONFIG,
                       stats=stats)

    assert all(isinstance(r, Response) for r in out)
    server = limited_sim.stats
    times = sorted(server["accepted_times"])
    assert len(times) == ROWS
    rate = (ROWS - 1) / (times[-1] - times[0]) * 60
    assert 0.85 * RPM <= rate <= 1.02 * RPM  # 2%: the one second banked at the start
    # Token-bucket conformance, window by window: never more than the rate plus the bank.
    for window in (10.0, 60.0):
        assert most_in_any_window(times, window) <= window_bound(RPM, window, BURST)
    assert server["rate_limited"] < 0.02 * ROWS
    assert stats.completed == ROWS
