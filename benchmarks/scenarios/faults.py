"""Scenario 3, faults: 10% of requests answered 503, 2% of connections dropped.

The fan-out calls are not streamed, so the simulator's "dropped stream" switch
(``drop_rate``, mid-stream) does not apply to them; the matching fault for a
plain request is a connection closed before the answer
(``drop_before_first_token_rate``), and both are set. Each round seeds the
fault dice differently (seed = round number) and resets them before every
contender, so all contenders meet the same faults in the same order, and
more than one pattern of faults is seen. What counts: prompts answered, and
how long the retries made the run.
"""

from __future__ import annotations

import collections
from typing import Any

from tests.support.sim import SimulatorProcess

from ..common import median
from ..contenders import LABELS
from ..pool import sim_counts
from ..sizes import Sizes
from . import Log, rotate, target, workers
from .throughput import trial

TITLE = "3. Faults"
CONTENDERS = ("bare", "ours", "bare+retries", "litellm", "litellm-router")


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    n, c = sizes.faults_n, sizes.concurrency
    faults = {"error_rate": sizes.faults_error_rate, "error_status": 503,
              "drop_before_first_token_rate": sizes.faults_drop_rate,
              "drop_rate": sizes.faults_drop_rate}
    trials: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    with SimulatorProcess(latency_s=sizes.faults_latency_s) as sim, \
            workers({name: name for name in CONTENDERS}, log) as pool:
        for name in CONTENDERS:
            trial(pool[name], sim, name, c, f"warm-{name}", c)
        for r in range(sizes.faults_rounds):
            sim.configure(seed=r, **faults)
            for name in rotate(CONTENDERS, r + 1):
                sim.reset("run")  # same fault dice for everyone in this round
                result = trial(pool[name], sim, name, n, f"faults-{name}-{r}", c)
                counts = sim_counts(sim)
                result.update(seed=r, sim_503=counts["status_counts"].get("503", 0),
                              sim_drops=counts["drops"])
                trials[name].append(result)
                log(f"  {name:<15} seed {r}: {result['wall_s']:6.1f}s answered "
                    f"{result['ok']}/{n}, {result['sim_requests']} requests"
                    + (f", errors {result['errors']}" if result["errors"] else ""))
    return summarise(sizes, trials)


def summarise(sizes: Sizes, trials: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    n = sizes.faults_n
    ideal = n / (sizes.concurrency / sizes.faults_latency_s)
    rows, summary = [], {}
    for name, runs in trials.items():
        total = n * len(runs)
        answered = sum(r["ok"] for r in runs)
        errors: collections.Counter[str] = collections.Counter()
        for r in runs:
            errors.update(r["errors"])
        wall = median(r["wall_s"] for r in runs)
        summary[name] = {"answered": answered, "prompts": total,
                         "answered_share": answered / total, "wall_s": wall,
                         "wall_over_ideal": wall / ideal,
                         "requests": sum(r["sim_requests"] for r in runs),
                         "complete_rounds": sum(r["ok"] == n for r in runs),
                         "errors": dict(errors)}
        rows.append([LABELS[name], f"{answered:,}/{total:,}",
                     f"{summary[name]['complete_rounds']}/{len(runs)}", f"{wall:.1f}",
                     f"{wall / ideal:.2f}", f"{summary[name]['requests']:,}",
                     ", ".join(f"{k} {v}" for k, v in errors.items()) or "-"])
    ours = summary.get("ours")
    targets = []
    if ours:
        complete = [k for k, v in summary.items() if v["answered"] == v["prompts"]]
        faster = [k for k in complete if k != "ours" and summary[k]["wall_s"] < ours["wall_s"]]
        targets.append(target("every prompt answered", ours["answered"] == ours["prompts"],
                              f"ours {ours['answered']:,}/{ours['prompts']:,}"
                              + (f"; failed as {ours['errors']}" if ours["errors"] else "")))
        targets.append(target("no slower than any contender that answered every prompt",
                              not faster if "ours" in complete else None,
                              "complete: " + (", ".join(complete) or "none")
                              + (f"; faster than ours: {', '.join(faster)}" if faster else "")))
    rounds = len(next(iter(trials.values()), []))
    return {
        "title": TITLE,
        "setup": (f"{rounds} round(s) of {n:,} prompts, fault dice seeded 0..{rounds - 1} (one "
                  f"seed per round, the same for every contender), latency "
                  f"{sizes.faults_latency_s * 1000:.0f} ms, concurrency {sizes.concurrency}; "
                  f"{sizes.faults_error_rate:.0%} of requests get 503, "
                  f"{sizes.faults_drop_rate:.0%} have their connection dropped (before the "
                  f"answer: these calls are not streamed). Time without faults: {ideal:.1f}s "
                  "per round; wall is the median round."),
        "table": {"columns": ["contender", "answered", "rounds complete", "wall s",
                              "wall / no-fault time", "requests sent", "errors left"],
                  "rows": rows},
        "summary": {"ideal_s": ideal, "contenders": summary},
        "targets": targets,
        "trials": trials,
    }


def from_trials(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    return summarise(sizes, trials)
