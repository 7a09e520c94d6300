"""Scenario 1, throughput: N prompts at fixed latency and concurrency, every contender.

The bound is ``concurrency / latency`` requests per second: no client can do
better against this server. A client reaches it when latency is what limits
it; below it, the client's own CPU is the limit (on 2 cores the simulator
needs one of them). The same scenario also compares the HTTP transports under
the SDK (httpx, its default, versus ``DefaultAioHttpClient``) for the bare loop
and for ours, interleaved round by round.
"""

from __future__ import annotations

from typing import Any

from tests.support.sim import SimulatorProcess

from ..common import median
from ..contenders import LABELS
from ..pool import sim_counts, sim_cpu_s
from ..sizes import Sizes
from . import Log, rotate, target, workers

TITLE = "1. Throughput"
CONTENDERS = ("bare", "ours", "bare-aiohttp", "ours-httpx", "litellm", "litellm-router")
"""``bare+retries`` is left out: without faults it runs the very code of ``bare`` (the
retries never fire), and its 40 s are better spent elsewhere in the 15-minute budget.
It runs in the rate-limit and fault scenarios, where retries matter."""
TRANSPORT_PAIRS = (("ours", "ours-httpx"), ("bare-aiohttp", "bare"))
"""(aiohttp, httpx) pairs: ours defaults to aiohttp, the SDK to httpx."""


def trial(worker: Any, sim: Any, name: str, n: int, tag: str, concurrency: int) -> dict[str, Any]:
    sim.reset_stats()
    sim_cpu0 = sim_cpu_s(sim)
    result = worker.run("fanout", contender=name, base_url=sim.base_url, n=n, tag=tag,
                        concurrency=concurrency)
    counts = sim_counts(sim)
    result.update(sim_requests=counts["chat_requests"], sim_max_in_flight=counts["max_in_flight"],
                  sim_cpu_s=sim_cpu_s(sim) - sim_cpu0)
    return result


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    n, c, latency = sizes.throughput_n, sizes.concurrency, sizes.throughput_latency_s
    bound = c / latency
    trials: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    with SimulatorProcess(latency_s=latency) as sim, \
            workers({name: name for name in CONTENDERS}, log) as pool:
        for name in CONTENDERS:  # warm pools and first-call paths outside the timings
            trial(pool[name], sim, name, c, f"warm-{name}", c)
        for r in range(sizes.throughput_rounds):
            for name in rotate(CONTENDERS, r):
                result = trial(pool[name], sim, name, n, f"tp-{name}-{r}", c)
                result["rps"] = result["ok"] / result["wall_s"]
                trials[name].append(result)
                log(f"  {name:<15} round {r + 1}: {result['wall_s']:6.1f}s "
                    f"{result['rps']:6.1f} req/s ({result['rps'] / bound:.2f} of bound), "
                    f"CPU {result['cpu_s'] / n * 1000:.2f} ms/req, ok {result['ok']}/{n}")
    return summarise(sizes, trials, bound)


def summarise(sizes: Sizes, trials: dict[str, list[dict[str, Any]]],
              bound: float) -> dict[str, Any]:
    n = sizes.throughput_n
    rows, summary = [], {}
    for name, runs in trials.items():
        rps = median(t["rps"] for t in runs)
        cpu_ms = median(t["cpu_s"] / n * 1000 for t in runs)
        core = median(t["cpu_s"] / t["wall_s"] for t in runs)
        summary[name] = {"rps": rps, "of_bound": rps / bound, "cpu_ms_per_req": cpu_ms,
                         "client_cores": core, "ok": min(t["ok"] for t in runs),
                         "wall_s": median(t["wall_s"] for t in runs),
                         "sim_cores": median(t["sim_cpu_s"] / t["wall_s"] for t in runs)}
        rows.append([LABELS[name], f"{summary[name]['wall_s']:.1f}", f"{rps:.0f}",
                     f"{rps / bound:.2f}", f"{cpu_ms:.2f}", f"{core:.2f}",
                     f"{summary[name]['ok']:,}/{n:,}"])

    transport = {}
    for aio, hx in TRANSPORT_PAIRS:
        pairs = list(zip(trials[aio], trials[hx], strict=True))
        transport[f"{aio} vs {hx}"] = {
            "rps_ratio": median(a["rps"] / h["rps"] for a, h in pairs),
            "cpu_ratio": median(a["cpu_s"] / h["cpu_s"] for a, h in pairs),
            "aiohttp_faster_rounds": sum(a["rps"] >= h["rps"] for a, h in pairs),
            "aiohttp_cheaper_rounds": sum(a["cpu_s"] <= h["cpu_s"] for a, h in pairs),
            "rounds": len(pairs),
        }

    ours = summary["ours"]
    others = {k: v for k, v in summary.items() if not k.startswith("ours")}
    best = max(others, key=lambda k: others[k]["rps"])
    # An asyncio client runs on one core: it is CPU-bound when keeping up with the bound
    # would take most of that core (CPU per request x bound), whatever the noise did.
    cpu_bound = {k: v for k, v in others.items() if v["cpu_ms_per_req"] / 1000 * bound >= 0.8}
    behind = [k for k, v in cpu_bound.items() if v["rps"] > ours["rps"]]
    per_request_ms = sizes.concurrency * ours["wall_s"] / n * 1000
    targets = [
        target(">= 0.95 of the bound where latency is the bound", ours["of_bound"] >= 0.95,
               f"ours {ours['of_bound']:.3f} of {bound:.0f} req/s (a request took "
               f"{per_request_ms:.0f} ms on average for {sizes.throughput_latency_s * 1000:.0f} ms "
               f"of latency); best alternative "
               f"({best}) {others[best]['of_bound']:.3f}; ours / best alternative "
               f"{ours['rps'] / others[best]['rps']:.2f}"),
        target("ahead of every contender where the client's CPU is the bound",
               not behind if cpu_bound else None,
               "CPU-bound (would need >= 0.8 core at the bound): "
               + (", ".join(f"{k} {v['of_bound']:.2f}" for k, v in cpu_bound.items())
                  or "none")
               + (f"; ahead of ours: {', '.join(behind)}" if behind else "")),
    ]
    return {
        "title": TITLE,
        "setup": (f"{sizes.throughput_rounds} interleaved round(s) of {n:,} prompts per "
                  f"contender ({n * sizes.throughput_rounds:,} in all), simulator latency "
                  f"{sizes.throughput_latency_s * 1000:.0f} ms, concurrency {sizes.concurrency}: "
                  f"bound {bound:.0f} req/s. One worker process per contender; each round "
                  "starts with a different contender; medians over rounds. CPU is the client "
                  "process's user+system time, all threads; 'client cores' is CPU / wall. "
                  "Nothing else of this run is going on meanwhile."),
        "table": {"columns": ["contender", "wall s", "req/s", "of bound", "CPU ms/req",
                              "client cores", "answered"], "rows": rows},
        "summary": {"bound_rps": bound, "contenders": summary, "transport": transport,
                    "best_alternative": best},
        "targets": targets,
        "markdown_extra": transport_lines(transport, "Transport, same run (aiohttp vs httpx)"),
        "trials": trials,
    }


def transport_lines(transport: dict[str, Any], heading: str) -> list[str]:
    """Markdown lines comparing aiohttp with httpx for each pair, round by round."""
    lines = [f"{heading}:", ""]
    for pair, t in transport.items():
        line = f"- {pair}: CPU ratio {t['cpu_ratio']:.2f}"
        if "rps_ratio" in t:
            line += f", req/s ratio {t['rps_ratio']:.2f}"
            line += f"; aiohttp faster in {t['aiohttp_faster_rounds']}/{t['rounds']} rounds"
        line += f", cheaper in {t['aiohttp_cheaper_rounds']}/{t['rounds']} rounds"
        lines.append(line)
    return lines


def from_trials(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    return summarise(sizes, trials, sizes.concurrency / sizes.throughput_latency_s)
