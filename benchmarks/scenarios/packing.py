"""Scenario 9, row packing (``pack=N``): rows per minute under an RPM limit, and cost per row.

Rate: a simulator at ``pack_rpm`` (60, the issue's figure) for each run, both
runs at once (the limit, not the CPU, sets the pace). Each run makes the same
number of requests, ``pack_requests``: the unpacked run sends that many rows,
the packed run ``pack_size`` times as many, so both meet the same burst and the
same refill and the ratio of rows per minute is what packing buys. Both use
``map(rpm=...)`` with the cache off.

Cost: the same ``pack_cost_rows`` prompts sent both ways to an unlimited
simulator, priced as ``gpt-4o-mini`` from the usage the server reports, once
with no system prompt (each row's prompt is all there is: the pack's
instruction and JSON framing are pure overhead) and once with a shared
system prompt (sent once per pack instead of once per row). The simulator
counts tokens as ~4 characters each and JSON framing as a few word pieces per
row; a real tokenizer charges JSON a little more, so the saving here is an
upper bound for the short-prompt case.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.support.sim import SimulatorProcess

from ..pool import sim_counts
from ..sizes import Sizes
from . import Log, prepared_worker, target

TITLE = "9. Row packing"
PRICED_MODEL = "gpt-4o-mini"
SYSTEM = (
    "You are a careful lexicographer. For the word or phrase you are given, write a one-line "
    "definition in plain English, without examples, without repeating the word itself, and "
    "without any preamble. If the word has several senses, give the most common one. Keep "
    "the answer under twenty words and never use a list or markdown."
)


def _rate_run(label: str, options: dict[str, Any], n: int, sizes: Sizes,
              out: dict[str, Any]) -> None:
    try:
        with SimulatorProcess(rpm=sizes.pack_rpm) as sim:
            worker = prepared_worker(f"pack-{label}", "ours")
            try:
                result = worker.run("fanout", contender="ours", base_url=sim.base_url, n=n,
                                    tag=f"pack-{label}", concurrency=sizes.concurrency,
                                    options={"rpm": sizes.pack_rpm, "cache": False, **options})
            finally:
                worker.stop()
            result["sim_requests"] = sim_counts(sim)["chat_requests"]
        out[label] = result
    except Exception as err:  # noqa: BLE001 - reported in the table, not fatal
        out[label] = {"error": f"{type(err).__name__}: {err}"}


def _cost_runs(sizes: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with SimulatorProcess() as sim:
        worker = prepared_worker("pack-cost", "ours")
        try:
            for system in ("none", "shared"):
                for packed in (False, True):
                    options = {"model": PRICED_MODEL, "cache": False}
                    if system == "shared":
                        options["system"] = SYSTEM
                    if packed:
                        options["pack"] = sizes.pack_size
                    before = sim_counts(sim)["chat_requests"]
                    r = worker.run("fanout", contender="ours", base_url=sim.base_url,
                                   n=sizes.pack_cost_rows, tag="pack-cost",
                                   concurrency=sizes.concurrency, options=options)
                    r["sim_requests"] = sim_counts(sim)["chat_requests"] - before
                    out[f"{system}/{'packed' if packed else 'unpacked'}"] = r
        finally:
            worker.stop()
    return out


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    rate: dict[str, Any] = {}
    n = sizes.pack_requests
    threads = [threading.Thread(target=_rate_run, args=(label, options, rows, sizes, rate),
                                daemon=True)
               for label, options, rows in (("unpacked", {}, n),
                                            ("packed", {"pack": sizes.pack_size},
                                             n * sizes.pack_size))]
    for t in threads:
        t.start()
    cost = _cost_runs(sizes)
    for t in threads:
        t.join()
    for label, r in {**rate, **cost}.items():
        log(f"  {label:<16} " + (r["error"][:200] if "error" in r else
                                 f"{r['wall_s']:6.1f}s ok {r['ok']}/{r['n']} "
                                 f"requests {r['sim_requests']}"))
    return summarise(sizes, {"rate": rate, "cost": cost})


def _per_1000(r: dict[str, Any]) -> float:
    return r["ours_stats"]["cost_usd"] / r["n"] * 1000


def summarise(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    rate, cost = trials["rate"], trials["cost"]
    rows: list[list[str]] = []
    summary: dict[str, Any] = {"rows_per_min": {}, "cost_per_1000_usd": {}}
    for label, r in rate.items():
        if "error" in r:
            rows.append([f"rate, {label}", "error", "", "", r["error"][:80]])
            continue
        per_min = r["ok"] / r["wall_s"] * 60
        summary["rows_per_min"][label] = per_min
        rows.append([f"{sizes.pack_rpm} RPM, {label}", f"{r['ok']:,}/{r['n']:,}",
                     f"{r['sim_requests']:,}", f"{r['wall_s']:.1f}", f"{per_min:,.0f} rows/min"])
    for label, r in cost.items():
        if "error" in r:
            rows.append([f"cost, {label}", "error", "", "", r["error"][:80]])
            continue
        summary["cost_per_1000_usd"][label] = _per_1000(r)
        rows.append([f"cost, system prompt {label}", f"{r['ok']:,}/{r['n']:,}",
                     f"{r['sim_requests']:,}", f"{r['wall_s']:.1f}",
                     f"${_per_1000(r):.4f} per 1,000 rows"])
    targets = []
    per_min = summary["rows_per_min"]
    if {"packed", "unpacked"} <= set(per_min):
        gain = per_min["packed"] / per_min["unpacked"]
        summary["rows_per_min_ratio"] = gain
        failed = sum(rate[k]["failed"] for k in ("packed", "unpacked"))
        targets.append(target(f">= 8x rows per minute packed ({sizes.pack_size}) vs unpacked "
                              f"at {sizes.pack_rpm} RPM", gain >= 8 and failed == 0,
                              f"{gain:.1f}x ({per_min['packed']:,.0f} vs "
                              f"{per_min['unpacked']:,.0f} rows/min), {failed} failed"))
    prices = summary["cost_per_1000_usd"]
    for system in ("none", "shared"):
        pair = (prices.get(f"{system}/packed"), prices.get(f"{system}/unpacked"))
        if None not in pair:
            summary[f"cost_ratio_{system}"] = pair[0] / pair[1]
    targets.append(target("cost per 1,000 rows, packed / unpacked (reported, not judged)", None,
                          ", ".join(f"system prompt {s}: {summary[f'cost_ratio_{s}']:.2f}"
                                    for s in ("none", "shared")
                                    if f"cost_ratio_{s}" in summary)))
    return {
        "title": TITLE,
        "setup": (f"Rate: {sizes.pack_requests:,} requests per run against a simulator at "
                  f"{sizes.pack_rpm} RPM each, unpacked ({sizes.pack_requests:,} rows) and "
                  f"pack={sizes.pack_size} ({sizes.pack_requests * sizes.pack_size:,} rows) at "
                  f"the same time, map(rpm={sizes.pack_rpm}, cache=False). Cost: the same "
                  f"{sizes.pack_cost_rows:,} prompts both ways, priced as {PRICED_MODEL} from "
                  "the usage the simulator reports, without and with a ~70-token shared system "
                  "prompt."),
        "table": {"columns": ["run", "answered", "requests", "wall s", "figure"], "rows": rows},
        "summary": summary,
        "targets": targets,
        "trials": trials,
    }


def from_trials(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    return summarise(sizes, trials)
