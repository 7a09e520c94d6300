"""Scenario 2, under a rate limit: the simulator enforces RPM and TPM with real 429s.

Why each contender gets its own simulator and all run at once: at 600 RPM a
3,000-prompt run lasts about five minutes by nature, so one after the other
would take half an hour. The runs are bound by the simulated limit, not by
CPU (10 requests a second each), so running them side by side changes little,
and every contender still sees a fresh server whose bucket starts full, as a
fresh OpenAI key does (up to a minute's worth may go at once, then
``limit/60`` per second).

Reported: wall time, achieved requests per minute over the limit, the 429s
the server sent, prompts that failed. The fastest any client can go without
a 429 is the burst plus the refill: ``(n - rpm) / (rpm / 60)`` seconds.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.support.sim import SimulatorProcess

from ..contenders import LABELS
from ..pool import sim_counts
from ..sizes import Sizes
from . import Log, prepared_worker, target

TITLE = "2. Under a rate limit"


def variants(sizes: Sizes) -> dict[str, tuple[str, dict[str, Any], str]]:
    """label -> (contender, options, description)."""
    limits = {"rpm": sizes.limit_rpm, "tpm": sizes.limit_tpm}
    return {
        "bare": ("bare", {}, LABELS["bare"]),
        "bare+retries": ("bare+retries", {}, LABELS["bare+retries"]),
        "litellm": ("litellm", {}, LABELS["litellm"] + " (LiteLLM's retry default)"),
        "litellm-router": ("litellm-router", dict(limits),
                           "litellm.Router, deployment rpm/tpm set (default routing)"),
        "ours": ("ours", dict(limits), "llm-magics map(rpm=..., tpm=...)"),
        "ours-learned": ("ours", {}, "llm-magics map(), no limits given (learns from headers)"),
    }


def _one(label: str, contender: str, options: dict[str, Any], sizes: Sizes,
         out: dict[str, Any]) -> None:
    try:
        with SimulatorProcess(latency_s=sizes.limit_latency_s, rpm=sizes.limit_rpm,
                              tpm=sizes.limit_tpm) as sim:
            worker = prepared_worker(f"rl-{label}", contender)
            try:
                result = worker.run("fanout", contender=contender, base_url=sim.base_url,
                                    n=sizes.limit_n, tag=f"rl-{label}",
                                    concurrency=sizes.concurrency, options=options)
            finally:
                worker.stop()
            counts = sim_counts(sim)
        result.update(sim_requests=counts["chat_requests"], sim_429=counts["rate_limited"],
                      sim_prompt_tokens=counts["prompt_tokens"],
                      sim_completion_tokens=counts["completion_tokens"])
        out[label] = result
    except Exception as err:  # noqa: BLE001 - one contender's failure is reported, not fatal
        out[label] = {"error": f"{type(err).__name__}: {err}"}


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    table = variants(sizes)
    out: dict[str, Any] = {}
    threads = [threading.Thread(target=_one, args=(label, c, o, sizes, out), daemon=True)
               for label, (c, o, _) in table.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for label, r in out.items():
        if "error" in r:
            log(f"  {label:<15} ERROR {r['error'][:200]}")
        else:
            log(f"  {label:<15} {r['wall_s']:6.1f}s ok {r['ok']}/{r['n']} 429s {r['sim_429']}")
    return summarise(sizes, table, out)


def summarise(sizes: Sizes, table: dict[str, tuple[str, dict[str, Any], str]],
              out: dict[str, Any]) -> dict[str, Any]:
    n, rpm = sizes.limit_n, sizes.limit_rpm
    ideal = max(0.0, (n - rpm) / (rpm / 60))
    steady = n / (rpm / 60)
    rows, summary = [], {}
    for label, (_, _, description) in table.items():
        r = out.get(label, {"error": "did not run"})
        if "error" in r:
            rows.append([description, "error", "", "", "", r["error"][:80]])
            continue
        achieved = r["ok"] / r["wall_s"] * 60
        tokens_per_req = ((r["sim_prompt_tokens"] + r["sim_completion_tokens"])
                          / max(1, r["sim_requests"] - r["sim_429"]))
        summary[label] = {"wall_s": r["wall_s"], "achieved_rpm": achieved,
                          "of_limit": achieved / rpm, "sim_429": r["sim_429"],
                          "failed": r["failed"], "ok": r["ok"],
                          "tokens_per_request": tokens_per_req}
        rows.append([description, f"{r['wall_s']:.1f}", f"{achieved / rpm:.2f}",
                     f"{r['sim_429']:,}", f"{r['failed']:,}", f"{r['ok']:,}/{n:,}"])

    ours, bare = summary.get("ours"), summary.get("bare")
    clean = {k: v for k, v in summary.items() if v["failed"] == 0 and not k.startswith("ours")}
    fastest = min(clean, key=lambda k: clean[k]["wall_s"]) if clean else None
    targets = []
    if ours:
        targets.append(target("zero failed prompts", ours["failed"] == 0,
                              f"ours: {ours['failed']} failed"))
        if bare:
            fewer = ours["sim_429"] * 10 <= bare["sim_429"]
            targets.append(target(">= 10x fewer 429s than the bare loop", fewer,
                                  f"ours {ours['sim_429']}, bare {bare['sim_429']}"))
        floors = (f"ours {ours['wall_s']:.1f}s; floor with the server's burst {ideal:.0f}s, "
                  f"at the steady rate {steady:.0f}s")
        if fastest:
            best = clean[fastest]["wall_s"]
            targets.append(target(
                "no slower than the fastest contender with zero failures",
                ours["wall_s"] <= best * 1.02,
                f"fastest clean alternative: {fastest} {best:.1f}s "
                f"(ours {ours['wall_s'] / best:.2f}x); {floors}"))
        else:
            targets.append(target(
                "no slower than the fastest contender with zero failures",
                ours["failed"] == 0,
                f"no alternative finished without failures; {floors}"))
    per_req = [v["tokens_per_request"] for v in summary.values()]
    binding = ""
    if per_req:
        tokens = max(per_req)
        binding = (f" Requests cost about {tokens:.0f} tokens each, so the TPM limit would allow "
                   f"{sizes.limit_tpm / tokens:,.0f} a minute: RPM is the limit that binds.")
    return {
        "title": TITLE,
        "setup": (f"{n:,} prompts, simulator at {rpm} RPM and {sizes.limit_tpm:,} TPM, "
                  f"latency {sizes.limit_latency_s * 1000:.0f} ms, concurrency "
                  f"{sizes.concurrency}. Each contender has its own simulator process and all "
                  "run at the same time (the limit, not the CPU, sets the pace). Floor: "
                  f"{ideal:.0f}s using the server's initial burst of {rpm}, {steady:.0f}s at "
                  f"the steady {rpm / 60:.0f}/s." + binding),
        "table": {"columns": ["contender", "wall s", "answered per min / limit", "429s", "failed",
                              "answered"], "rows": rows},
        "summary": {"floor_s": ideal, "steady_s": steady, "contenders": summary,
                    "fastest_clean": fastest},
        "targets": targets,
        "trials": out,
    }


def from_trials(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    return summarise(sizes, variants(sizes), trials)
