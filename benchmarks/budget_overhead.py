"""What ``max_cost_usd`` costs and how close to the cap it stops, in the same run.

Overhead: map() of N prompts with a cap that never binds, versus the same
map() without one (fresh prompts each, cache off), against one simulator
process with fixed latency. Use of the cap: a fan-out whose cap stops it, at
the same concurrency; how much of the cap was spent when it stopped (the
rest is the worst case of calls that could not be sure to fit).

    python -m benchmarks.budget_overhead --n 2000 --concurrency 64 --latency 0.05
"""

from __future__ import annotations

import llm_magics
from llm_magics.core.settings import reset
from tests.support.sim import SimulatorProcess

from .common import run_from_command_line, timed

MODEL = "sim-small"
PRICES = {MODEL: (1000.0, 1000.0)}
MAX_TOKENS = 16


def _map(prompts: list[str], concurrency: int, **cap: float) -> list:
    return llm_magics.map(prompts, concurrency=concurrency, max_tokens=MAX_TOKENS, **cap)


def run(n: int, concurrency: int, latency: float, rounds: int = 2) -> dict:
    out: dict = {"n": n, "concurrency": concurrency, "latency_s": latency, "rounds": []}
    with SimulatorProcess(latency_s=latency, answer_tokens=MAX_TOKENS) as sim:
        reset()
        llm_magics.configure(base_url=sim.base_url, api_key="sk-bench", model=MODEL,
                             cache=False, prices=PRICES)
        for r in range(rounds):
            free = timed(lambda r=r: _map([f"r{r} free {i:05d}" for i in range(n)],
                                          concurrency))
            capped = timed(lambda r=r: _map([f"r{r} capd {i:05d}" for i in range(n)],
                                            concurrency, max_cost_usd=1e9))
            out["rounds"].append({
                "uncapped_wall_s": round(free.wall_s, 3), "capped_wall_s": round(capped.wall_s, 3),
                "capped_over_uncapped_wall": round(capped.wall_s / free.wall_s, 3),
                "uncapped_cpu_ms_per_req": round(free.cpu_s / n * 1000, 3),
                "capped_cpu_ms_per_req": round(capped.cpu_s / n * 1000, 3),
            })
        cap = 0.025 * n / 2  # about half the rows' real cost
        before = sim.stats["chat_requests"]
        stopped = _map([f"stop {i:05d}" for i in range(n)], concurrency, max_cost_usd=cap)
        answered = [o for o in stopped if isinstance(o, llm_magics.Response)]
        spent = sum(o.cost_usd for o in answered)
        out["stop"] = {"cap_usd": cap, "spent_usd": round(spent, 6),
                       "spent_over_cap": round(spent / cap, 4), "answered": len(answered),
                       "server_requests": sim.stats["chat_requests"] - before}
    return out


def main() -> None:
    run_from_command_line(run, __doc__, n=2000, concurrency=64, latency=0.05, rounds=2)


if __name__ == "__main__":
    main()
