"""Scenario 7, memory: peak RSS of a 100,000-row fan-out, ours ``map`` versus bare gather.

Each side runs in a fresh process with its own zero-latency simulator, both at
once (peak memory does not depend on how fast the run goes, and the budget
does). ``ru_maxrss`` is read before the run (interpreter, libraries and the
prompt list) and after it; the difference is what the fan-out itself held.
``asyncio.gather`` creates a task per prompt up front; ``map`` keeps a fixed
pool of workers and stores results.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.support.sim import SimulatorProcess

from ..contenders import LABELS
from ..pool import sim_counts
from ..sizes import Sizes
from . import Log, prepared_worker, target

TITLE = "7. Memory"
CONTENDERS = ("bare", "ours")


def _one(name: str, sizes: Sizes, out: dict[str, Any]) -> None:
    try:
        with SimulatorProcess(latency_s=0.0) as sim:
            worker = prepared_worker(f"mem-{name}", name)
            try:
                result = worker.run("fanout", contender=name, base_url=sim.base_url,
                                    n=sizes.memory_n, tag=f"mem-{name}",
                                    concurrency=sizes.concurrency)
            finally:
                worker.stop()
            result["sim_requests"] = sim_counts(sim)["chat_requests"]
        out[name] = result
    except Exception as err:  # noqa: BLE001 - reported in the results
        out[name] = {"error": f"{type(err).__name__}: {err}"}


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    out: dict[str, Any] = {}
    threads = [threading.Thread(target=_one, args=(name, sizes, out), daemon=True)
               for name in CONTENDERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, r in out.items():
        if "error" in r:
            log(f"  {name}: ERROR {r['error'][:300]}")
        else:
            log(f"  {name:<6} peak {r['peak_rss_mb']:.0f} MB (before {r['rss_before_mb']:.0f}), "
                f"ok {r['ok']}/{r['n']}, {r['wall_s']:.0f}s")
    return summarise(sizes, out)


def summarise(sizes: Sizes, out: dict[str, Any]) -> dict[str, Any]:
    n = sizes.memory_n
    rows, summary = [], {}
    for name in CONTENDERS:
        r = out.get(name, {"error": "did not run"})
        if "error" in r:
            rows.append([LABELS[name], "error", "", "", r["error"][:80]])
            continue
        delta = r["peak_rss_mb"] - r["rss_before_mb"]
        summary[name] = {"peak_mb": r["peak_rss_mb"], "before_mb": r["rss_before_mb"],
                         "fanout_mb": delta, "ok": r["ok"]}
        rows.append([LABELS[name], f"{r['peak_rss_mb']:.0f}", f"{r['rss_before_mb']:.0f}",
                     f"{delta:.0f}", f"{r['ok']:,}/{n:,}"])
    targets = []
    if "ours" in summary and "bare" in summary:
        ours, bare = summary["ours"], summary["bare"]
        targets.append(target("peak RSS no higher than the bare gather",
                              ours["peak_mb"] <= bare["peak_mb"],
                              f"ours {ours['peak_mb']:.0f} MB vs bare {bare['peak_mb']:.0f} MB"
                              f" (fan-out alone: {ours['fanout_mb']:.0f} vs "
                              f"{bare['fanout_mb']:.0f} MB)"))
    return {
        "title": TITLE,
        "setup": (f"{n:,} short prompts, zero-latency simulator, concurrency "
                  f"{sizes.concurrency}; each side in a fresh process; peak RSS from "
                  "getrusage(RUSAGE_SELF).ru_maxrss. Ours with its defaults (cache on)."),
        "table": {"columns": ["contender", "peak RSS MB", "RSS before MB", "fan-out MB",
                              "answered"], "rows": rows},
        "summary": summary,
        "targets": targets,
        "trials": out,
    }


def from_trials(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    return summarise(sizes, trials)
