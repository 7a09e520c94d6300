"""The Batch API path at scale, against the simulator in its own process.

Three measurements in one run:

* ``jsonl``: building the input file and reading the output file for
  50,000 requests, ours versus bare ``json.dumps``/``json.loads``
  (``benchmarks.batch_lines.measure_batch``);
* ``split``: 50,001 requests end to end (submit -> two batches -> wait ->
  results), checking every answer against the simulator's and the order;
* ``vs_map``: 1,000 requests through the batch path and through ``map()`` on
  the same simulator, which must give the same texts in the same order.

    python -m benchmarks.batch_jsonl --n 50000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

import llm_magics
import llm_magics.batch as batch
from llm_magics.core.settings import reset
from llm_magics.server.sim import SimConfig, expected_answer
from tests.support.sim import SimulatorProcess

from .batch_lines import measure_batch

MODEL = "gpt-4o-mini"
POLL_S = 0.05


def _configure(base_url: str, tmp: str) -> None:
    os.environ["LLM_MAGICS_JOBSTORE_PATH"] = os.path.join(tmp, "jobs.sqlite")
    os.environ["LLM_MAGICS_CACHE_PATH"] = os.path.join(tmp, "cache.sqlite")
    reset()
    llm_magics.configure(base_url=base_url, api_key="sk-bench", model=MODEL, cache=False)


def _expected(prompt: str) -> str:
    return expected_answer({"model": MODEL, "messages": [{"role": "user", "content": prompt}]},
                           SimConfig())


def end_to_end(n: int, base_url: str) -> dict[str, Any]:
    """Submit ``n`` prompts, wait, collect; check batches, order and every answer."""
    prompts = [f"e2e {i}" for i in range(n)]
    t0 = time.perf_counter()
    job = batch.submit(prompts)
    t1 = time.perf_counter()
    job.wait(poll=POLL_S)
    t2 = time.perf_counter()
    results = job.results()
    t3 = time.perf_counter()
    summary = job.status()
    in_order = [getattr(r, "text", None) for r in results] == [_expected(p) for p in prompts]
    return {
        "n": n, "batches": summary.batches, "state": summary.state, "in_order": in_order,
        "submit_s": round(t1 - t0, 3), "wait_s": round(t2 - t1, 3),
        "results_s": round(t3 - t2, 3), "total_s": round(t3 - t0, 3),
        "cost_usd": summary.cost_usd, "saving_usd": summary.saving_usd,
    }


def versus_map(n: int) -> dict[str, Any]:
    prompts = [f"versus map {i}" for i in range(n)]
    t0 = time.perf_counter()
    from_batch = batch.submit(prompts).wait(poll=POLL_S).results()
    t1 = time.perf_counter()
    from_map = llm_magics.map(prompts)
    t2 = time.perf_counter()
    same = [r.text for r in from_batch] == [r.text for r in from_map]
    return {"n": n, "same_texts_same_order": same, "batch_s": round(t1 - t0, 3),
            "map_s": round(t2 - t1, 3)}


def run(n: int, split_n: int, map_n: int) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonl": measure_batch(n)}
    with SimulatorProcess(batch_step_s=0.05) as sim, tempfile.TemporaryDirectory() as tmp:
        _configure(sim.base_url, tmp)
        out["split"] = end_to_end(split_n, sim.base_url)
        out["vs_map"] = versus_map(map_n)
        out["sim_batches"] = sim.stats["batches"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000, help="requests for build + parse")
    parser.add_argument("--split-n", type=int, default=50_001,
                        help="requests end to end (over 50,000: two batches)")
    parser.add_argument("--map-n", type=int, default=1_000, help="requests for batch vs map")
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.split_n, args.map_n), indent=2, default=str))


if __name__ == "__main__":
    main()
