"""1,000 rows through ``map(mode="queue")``, one of two workers SIGKILLed mid-run, defaults.

The upstream is not our simulator but a plain aiohttp server counting every
request per prompt, so "paid twice" is counted where the bill would be.
A call in flight when its worker dies is paid for and its answer is lost with
the worker; that is the only way a row may be paid twice. Its count and the
other figures are printed (``-s``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from counting_upstream import CountingUpstream, echo
from queue_helpers import MODEL, WORKER_KEY, tag

import llm_magics
from llm_magics.core.types import Response
from llm_magics.queue import QueueConfig

ROWS = 1000
CONCURRENCY = 8
DEFAULTS = QueueConfig()  # visibility timeout 1,800 s: only the heartbeat can be quick
# The worker stores an answer right after it arrives; allow that long on a loaded machine.
STORE_SLACK_S = 2.0


def test_a_1000_row_queue_map_with_a_worker_killed_loses_no_row_and_pays_in_flight_calls_only(
        redis_url, start_worker, tmp_path):
    with CountingUpstream(WORKER_KEY, latency_s=0.1) as upstream:
        doomed = start_worker(upstream.base_url, concurrency=CONCURRENCY, config=DEFAULTS,
                              cache_path=tmp_path / "doomed.sqlite")
        start_worker(upstream.base_url, concurrency=CONCURRENCY, config=DEFAULTS,
                     cache_path=tmp_path / "survivor.sqlite")
        label = tag()
        prompts = [f"{label} row {i}" for i in range(ROWS)]
        started = time.monotonic()
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(llm_magics.map, prompts, mode="queue", model=MODEL,
                                  base_url=upstream.base_url, redis_url=redis_url)
            while upstream.requests() < ROWS // 3 and not running.done():
                time.sleep(0.02)
            doomed.kill()
            killed_at = time.monotonic()
            out = running.result(timeout=600)
        took = time.monotonic() - started

    lost = [p for p, r in zip(prompts, out, strict=True)
            if not (isinstance(r, Response) and r.text == echo(p))]
    assert lost == []
    assert set(upstream.arrived) == set(prompts)
    twice = {p: times for p, times in upstream.arrived.items() if len(times) > 1}
    # Paid twice only if its first call was still unanswered when the worker died.
    answered_long_before = [p for p in twice
                            if upstream.answered[p][0] < killed_at - STORE_SLACK_S]
    assert answered_long_before == []
    assert len(twice) <= CONCURRENCY
    assert all(len(times) == 2 for times in twice.values())
    in_flight = [p for p in twice if upstream.arrived[p][0] < killed_at]
    again = sorted(times[1] - killed_at for times in twice.values())
    print(f"\n{ROWS} rows, one of two workers SIGKILLed after {killed_at - started:.1f}s: "
          f"lost {len(lost)}, paid twice {len(twice)} (first call in flight at the kill: "
          f"{len(in_flight)}), upstream requests {upstream.requests()}, whole run {took:.1f}s"
          + (f", first re-sent call {again[0]:.1f}s after the kill" if again else ""))
