"""map() of N prompts at concurrency C against a simulator with fixed latency, versus
the bare AsyncOpenAI + Semaphore + gather loop, in the same run.

    python -m benchmarks.core_map --n 1000 --concurrency 64 --latency 0.1
"""

from __future__ import annotations

import asyncio

import llm_magics
from llm_magics.core.settings import reset
from tests.support.sim import SimulatorProcess

from .common import bare_gather, run_from_command_line, timed


def run(n: int, concurrency: int, latency: float, rounds: int = 2) -> dict:
    ideal = n / concurrency * latency
    out: dict = {"n": n, "concurrency": concurrency, "latency_s": latency, "ideal_s": ideal,
                 "rounds": []}
    with SimulatorProcess(latency_s=latency) as sim:
        for r in range(rounds):
            prompts = [f"round {r} prompt {i}" for i in range(n)]
            bare = timed(lambda p=prompts: asyncio.run(
                bare_gather(sim.base_url, p, concurrency, model="sim-small")))
            reset()
            llm_magics.configure(base_url=sim.base_url, api_key="sk-bench", model="sim-small",
                                 cache=False)
            ours = timed(lambda p=prompts: llm_magics.map([q + " ours" for q in p],
                                                         concurrency=concurrency))
            ok = sum(isinstance(x, llm_magics.Response) for x in ours.result)
            out["rounds"].append({
                "bare_wall_s": round(bare.wall_s, 3), "ours_wall_s": round(ours.wall_s, 3),
                "ours_over_bare": round(ours.wall_s / bare.wall_s, 3),
                "ours_over_ideal": round(ours.wall_s / ideal, 3),
                "bare_over_ideal": round(bare.wall_s / ideal, 3),
                "bare_cpu_ms_per_req": round(bare.cpu_s / n * 1000, 3),
                "ours_cpu_ms_per_req": round(ours.cpu_s / n * 1000, 3),
                "ours_ok": ok,
            })
    return out


def main() -> None:
    run_from_command_line(run, __doc__, n=1000, concurrency=64, latency=0.1, rounds=2)


if __name__ == "__main__":
    main()
