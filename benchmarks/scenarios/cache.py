"""Scenario 6, cache: the same fan-out run twice; the second run should cost almost nothing.

A notebook re-runs cells all the time, and an interrupted fan-out is re-run to
finish it. The second run is measured twice: in the same process (a cell run
again) and in a fresh process on the same cache file (after a kernel
restart). The bare loop has no cache: its re-run costs the first run again.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.support.sim import SimulatorProcess

from ..sizes import Sizes
from . import Log, prepared_worker, target
from .throughput import trial

TITLE = "6. Cache"


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    n, c = sizes.cache_n, sizes.concurrency
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp, \
            SimulatorProcess(latency_s=sizes.cache_latency_s) as sim:
        workdir = Path(tmp)
        worker = prepared_worker("cache-1", "ours", workdir=workdir)
        try:
            trial(worker, sim, "ours", c, "warm", c)
            first = trial(worker, sim, "ours", n, "cache", c)
            again = trial(worker, sim, "ours", n, "cache", c)
        finally:
            worker.stop()
        fresh_worker = prepared_worker("cache-2", "ours", workdir=workdir)
        try:
            fresh = trial(fresh_worker, sim, "ours", n, "cache", c)
        finally:
            fresh_worker.stop()
    log(f"  first {first['wall_s']:.2f}s, re-run {again['wall_s']:.3f}s "
        f"({again['sim_requests']} calls), fresh process {fresh['wall_s']:.3f}s "
        f"({fresh['sim_requests']} calls)")
    return summarise(sizes, first, again, fresh)


def summarise(sizes: Sizes, first: dict[str, Any], again: dict[str, Any],
              fresh: dict[str, Any]) -> dict[str, Any]:
    n = sizes.cache_n
    rows = [
        ["first run (every prompt sent)", f"{first['wall_s']:.2f}", "1.00",
         f"{first['sim_requests']:,}", f"{first['ok']:,}/{n:,}"],
        ["re-run, same process", f"{again['wall_s']:.3f}",
         f"{again['wall_s'] / first['wall_s']:.4f}", f"{again['sim_requests']:,}",
         f"{again['ok']:,}/{n:,}"],
        ["re-run, fresh process (kernel restart)", f"{fresh['wall_s']:.3f}",
         f"{fresh['wall_s'] / first['wall_s']:.4f}", f"{fresh['sim_requests']:,}",
         f"{fresh['ok']:,}/{n:,}"],
        ["bare loop re-run (no cache)", "= first run", "~1.0", f"{n:,}", ""],
    ]
    ratio = again["wall_s"] / first["wall_s"]
    return {
        "title": TITLE,
        "setup": (f"{n:,} prompts at {sizes.cache_latency_s * 1000:.0f} ms latency, "
                  f"concurrency {sizes.concurrency}, llm-magics defaults (SQLite response "
                  "cache on); then the same prompts again."),
        "table": {"columns": ["run", "wall s", "vs first run", "calls reaching the server",
                              "answered"], "rows": rows},
        "summary": {"first_s": first["wall_s"], "rerun_s": again["wall_s"],
                    "fresh_rerun_s": fresh["wall_s"], "rerun_over_first": ratio,
                    "fresh_over_first": fresh["wall_s"] / first["wall_s"],
                    "rerun_calls": again["sim_requests"], "fresh_calls": fresh["sim_requests"]},
        "targets": [target("a re-run sends nothing to the server",
                           again["sim_requests"] == 0 and fresh["sim_requests"] == 0,
                           f"{again['sim_requests']} + {fresh['sim_requests']} calls")],
        "trials": {"first": first, "again": again, "fresh": fresh},
    }


def from_trials(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    return summarise(sizes, trials["first"], trials["again"], trials["fresh"])
