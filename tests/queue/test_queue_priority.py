"""A high-priority request queued behind hundreds of bulk ones is among the next to run."""

from __future__ import annotations

import asyncio
import statistics
import time

from queue_helpers import FAST, requests, submitter

from llm_magics.core.loop_thread import run_sync
from llm_magics.core.types import Response
from llm_magics.queue import QueueRun


def test_high_priority_rows_finish_before_ninety_percent_of_the_bulk(redis_url, sim,
                                                                       start_worker):
    sim.configure(latency_s=0.02)
    for _ in range(2):
        start_worker(sim.base_url, concurrency=4)
    settings = submitter(redis_url, sim.base_url)
    finished: dict[str, list[float]] = {"bulk": [], "high": []}

    def recorder(kind: str):
        return lambda i, outcome: finished[kind].append(time.monotonic())

    bulk = QueueRun(requests(500, sim.base_url), settings, config=FAST,
                    on_result=recorder("bulk"))
    high = QueueRun(requests(10, sim.base_url), settings, config=FAST, priority="high",
                    on_result=recorder("high"))
    assert bulk.enqueue() == 500
    high_sent = time.monotonic()
    assert high.enqueue() == 10

    async def collect_both() -> None:
        await asyncio.gather(bulk.collect(), high.collect())

    run_sync(collect_both())
    failed = [r for r in bulk.results + high.results if not isinstance(r, Response)]
    assert not failed, failed[:3]
    bulk_p90 = statistics.quantiles(finished["bulk"], n=10)[-1]
    assert max(finished["high"]) < bulk_p90
    # Not just "before the end": the high rows barely waited for the 500 ahead of them.
    bulk_span = max(finished["bulk"]) - min(finished["bulk"])
    assert max(finished["high"]) - high_sent < 0.25 * bulk_span
