"""Scenario 9, scaling: how time, CPU and peak RSS grow with the rows, ours ``map`` versus bare.

One fresh worker process per side and size (so each peak RSS is that run's
own), against one zero-latency simulator process, sizes in ascending order and
the two sides alternating. The figure is how each cost grows from one size to
the next; the ratio ours / bare at each size says whether the gap widens.
"""

from __future__ import annotations

from typing import Any

from tests.support.sim import SimulatorProcess

from ..contenders import LABELS
from ..sizes import Sizes
from . import Log, prepared_worker, target

TITLE = "10. Scaling"
CONTENDERS = ("bare", "ours")


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    trials: dict[str, dict[str, Any]] = {name: {} for name in CONTENDERS}
    with SimulatorProcess(latency_s=0.0) as sim:
        for n in sizes.scaling_ns:
            for name in CONTENDERS:
                worker = prepared_worker(f"scale-{name}-{n}", name)
                try:
                    r = worker.run("fanout", contender=name, base_url=sim.base_url, n=n,
                                   tag=f"scale-{name}-{n}", concurrency=sizes.concurrency)
                finally:
                    worker.stop()
                trials[name][str(n)] = r
                log(f"  {name:<5} {n:>7,} rows: {r['wall_s']:.1f}s, CPU {r['cpu_s']:.1f}s, "
                    f"peak {r['peak_rss_mb']:.0f} MB, ok {r['ok']:,}")
    return summarise(sizes, trials)


def summarise(sizes: Sizes, trials: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rows, summary = [], {}
    for n in sizes.scaling_ns:
        bare, ours = trials["bare"][str(n)], trials["ours"][str(n)]
        summary[str(n)] = {
            name: {"wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "peak_mb": r["peak_rss_mb"],
                   "fanout_mb": r["peak_rss_mb"] - r["rss_before_mb"], "ok": r["ok"]}
            for name, r in (("bare", bare), ("ours", ours))}
        for name, r in (("bare", bare), ("ours", ours)):
            rows.append([f"{n:,}", LABELS[name], f"{r['wall_s']:.1f}", f"{r['cpu_s']:.1f}",
                         f"{r['cpu_s'] / n * 1000:.2f}", f"{r['peak_rss_mb']:.0f}",
                         f"{r['peak_rss_mb'] - r['rss_before_mb']:.0f}", f"{r['ok']:,}"])
        rows.append([f"{n:,}", "ours / bare", f"{ours['wall_s'] / bare['wall_s']:.2f}",
                     f"{ours['cpu_s'] / bare['cpu_s']:.2f}", "",
                     f"{ours['peak_rss_mb'] / bare['peak_rss_mb']:.2f}", "", ""])
    every = all(summary[str(n)][name]["ok"] == n for n in sizes.scaling_ns
                for name in CONTENDERS)
    return {
        "title": TITLE,
        "setup": (f"{', '.join(f'{n:,}' for n in sizes.scaling_ns)} short prompts, "
                  f"zero-latency simulator, concurrency {sizes.concurrency}; one fresh "
                  "process per side and size (peak RSS from getrusage), sizes ascending, "
                  "sides alternating. Ours with its defaults (cache on)."),
        "table": {"columns": ["rows", "contender", "wall s", "CPU s", "CPU ms/row",
                              "peak RSS MB", "fan-out MB", "answered"], "rows": rows},
        "summary": summary,
        "targets": [target("every row answered at every size", every,
                           "both sides, every size" if every else "some rows failed")],
        "trials": trials,
    }


def from_trials(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    return summarise(sizes, trials)
