"""Scenario 4, client overhead: CPU seconds per 1,000 requests against a zero-latency server.

With no latency to wait for, the client's CPU per request is all there is to
see, and it decides how many requests a notebook can push through one core.
Interleaved rounds, median of the per-round ratios. LiteLLM runs a third of
the prompts per round (its cost per request is what matters, and it is slow).
Requests per second here are bound by CPU on both sides: the simulator needs
about one of the two cores.
"""

from __future__ import annotations

from typing import Any

from tests.support.sim import SimulatorProcess

from ..common import median
from ..contenders import LABELS
from ..sizes import Sizes
from . import Log, rotate, target, workers
from .throughput import TRANSPORT_PAIRS, transport_lines, trial

TITLE = "4. Client overhead"
CONTENDERS = ("bare", "ours", "bare-aiohttp", "ours-httpx", "ours-sdk", "litellm",
              "litellm-router")


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    c = sizes.concurrency
    trials: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    with SimulatorProcess(latency_s=0.0) as sim, \
            workers({name: name for name in CONTENDERS}, log) as pool:
        for name in CONTENDERS:
            trial(pool[name], sim, name, c, f"warm-{name}", c)
        for r in range(sizes.overhead_rounds):
            for name in rotate(CONTENDERS, r):
                n = sizes.overhead_n // 3 if name.startswith("litellm") else sizes.overhead_n
                result = trial(pool[name], sim, name, max(n, 1), f"oh-{name}-{r}", c)
                result["cpu_s_per_1000"] = result["cpu_s"] / result["n"] * 1000
                result["rps"] = result["ok"] / result["wall_s"]
                trials[name].append(result)
                log(f"  {name:<15} round {r + 1}: {result['cpu_s_per_1000']:.2f} CPU s/1000, "
                    f"{result['rps']:.0f} req/s")
    return summarise(sizes, trials)


def summarise(sizes: Sizes, trials: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    rounds = len(trials["bare"])
    ratio_bare = [trials["ours"][r]["cpu_s_per_1000"] / trials["bare"][r]["cpu_s_per_1000"]
                  for r in range(rounds)]
    summary: dict[str, Any] = {"contenders": {}, "ours_over_bare": median(ratio_bare),
                               "ours_over_bare_rounds": ratio_bare}
    rows = []
    for name, runs in trials.items():
        per_1000 = median(t["cpu_s_per_1000"] for t in runs)
        rps = median(t["rps"] for t in runs)
        vs_bare = median(runs[r]["cpu_s_per_1000"] / trials["bare"][r]["cpu_s_per_1000"]
                         for r in range(rounds))
        summary["contenders"][name] = {"cpu_s_per_1000": per_1000, "rps": rps,
                                       "over_bare": vs_bare,
                                       "ok": min(t["ok"] for t in runs)}
        rows.append([LABELS[name], f"{per_1000:.2f}", f"{vs_bare:.2f}", f"{rps:.0f}"])
    summary["transport"] = {
        f"{aio} vs {hx}": {
            "cpu_ratio": median(a["cpu_s_per_1000"] / h["cpu_s_per_1000"]
                                for a, h in zip(trials[aio], trials[hx], strict=True)),
            "rps_ratio": median(a["rps"] / h["rps"]
                                for a, h in zip(trials[aio], trials[hx], strict=True)),
            "aiohttp_faster_rounds": sum(a["rps"] >= h["rps"]
                                         for a, h in zip(trials[aio], trials[hx], strict=True)),
            "aiohttp_cheaper_rounds": sum(
                a["cpu_s_per_1000"] <= h["cpu_s_per_1000"]
                for a, h in zip(trials[aio], trials[hx], strict=True)),
            "rounds": rounds,
        }
        for aio, hx in TRANSPORT_PAIRS
    }
    ours = summary["ours_over_bare"]
    contenders = summary["contenders"]
    cheapest_other = min((k for k in contenders if not k.startswith("ours")),
                         key=lambda k: contenders[k]["cpu_s_per_1000"])
    ours_cap = 1000 / contenders["ours"]["cpu_s_per_1000"]
    other_cap = 1000 / contenders[cheapest_other]["cpu_s_per_1000"]
    targets = [
        target("at most 1.0x the bare SDK's CPU per request", ours <= 1.0,
               f"ours / bare = {ours:.2f} (rounds: "
               + ", ".join(f"{x:.2f}" for x in ratio_bare) + ")"),
        target("aim: half the bare SDK's CPU per request", ours <= 0.5, f"{ours:.2f}"),
        target("at most 0.30x the bare SDK's CPU per request (lean request path)", ours <= 0.30,
               f"{ours:.2f}" + _lean_over_sdk(trials)),
        target("ahead of every contender where the client's CPU is the bound",
               ours_cap > other_cap,
               f"requests per client CPU-second: ours {ours_cap:.0f}, best other "
               f"({cheapest_other}) {other_cap:.0f}; req/s here: ours "
               f"{contenders['ours']['rps']:.0f}, {cheapest_other} "
               f"{contenders[cheapest_other]['rps']:.0f}"),
    ]
    return {
        "title": TITLE,
        "setup": (f"{sizes.overhead_n:,} requests per contender per round (LiteLLM: a third), "
                  f"zero-latency simulator, concurrency {sizes.concurrency}, "
                  f"{sizes.overhead_rounds} interleaved rounds; median of per-round ratios. "
                  "Ours runs with its defaults (response cache on, aiohttp). The rate-limit and "
                  "memory scenarios run in the background meanwhile, so read req/s as "
                  "indicative; CPU per request is the figure."),
        "table": {"columns": ["contender", "CPU s / 1,000 req", "vs bare SDK",
                              "req/s (CPU-bound)"], "rows": rows},
        "summary": summary,
        "targets": targets,
        "markdown_extra": transport_lines(summary["transport"],
                                          "Transport at zero latency (aiohttp vs httpx)"),
        "trials": trials,
    }


def _lean_over_sdk(trials: dict[str, list[dict[str, Any]]]) -> str:
    """Ours on its lean path against ours through the SDK, same run, same transport."""
    if not trials.get("ours-sdk"):
        return ""
    ratio = median(lean["cpu_s_per_1000"] / sdk["cpu_s_per_1000"]
                   for lean, sdk in zip(trials["ours"], trials["ours-sdk"], strict=True))
    return f"; lean / SDK path (both ours, aiohttp) {ratio:.2f}"


def from_trials(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    return summarise(sizes, trials)
