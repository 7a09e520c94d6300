"""Scenario 8, batch JSONL: build a job's input file and read its output, 50,000 requests.

Runs ``benchmarks.batch_lines`` in a worker, several rounds; the baseline is
plain ``json.dumps`` / ``json.loads`` per line (what a hand-written batch
script does, with none of the custom_id, de-duplication, size-limit and
pricing work). See that module for exactly what each side does.
"""

from __future__ import annotations

from typing import Any

from ..common import median
from ..sizes import Sizes
from . import Log, prepared_worker, target

TITLE = "8. Batch JSONL"


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    worker = prepared_worker("batch", "ours")
    try:
        rounds = [worker.run("batch", n=sizes.batch_n) for _ in range(sizes.batch_rounds)]
    finally:
        worker.stop()
    result = summarise(sizes, rounds)
    s = result["summary"]
    log(f"  build {s['ours_build_s']:.2f}s ({s['build_over_bare']:.1f}x json.dumps), parse "
        f"{s['ours_parse_s']:.2f}s ({s['parse_over_bare']:.1f}x json.loads)")
    return result


def summarise(sizes: Sizes, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    n = sizes.batch_n
    keys = ("ours_build_s", "bare_build_s", "ours_parse_s", "bare_parse_s")
    s: dict[str, Any] = {k: median(r[k] for r in rounds) for k in keys}
    s["build_over_bare"] = median(r["ours_build_s"] / r["bare_build_s"] for r in rounds)
    s["parse_over_bare"] = median(r["ours_parse_s"] / r["bare_parse_s"] for r in rounds)
    s["answered"] = min(r["answered"] for r in rounds)
    s["input_mb"] = rounds[0]["input_mb"]
    s["output_mb"] = rounds[0]["output_mb"]
    rows = [
        ["build input JSONL", f"{s['ours_build_s']:.2f}", f"{s['bare_build_s']:.2f}",
         f"{s['build_over_bare']:.1f}x", f"{n / s['ours_build_s']:,.0f}"],
        ["parse output JSONL", f"{s['ours_parse_s']:.2f}", f"{s['bare_parse_s']:.2f}",
         f"{s['parse_over_bare']:.1f}x", f"{n / s['ours_parse_s']:,.0f}"],
    ]
    return {
        "title": TITLE,
        "setup": (f"{n:,} requests ({s['input_mb']:.1f} MB in, {s['output_mb']:.1f} MB out), "
                  f"{len(rounds)} rounds, medians. Ours: core.batch prepare_lines + split + "
                  "encode; parse_jsonl + read_record + outcome_from_record. Baseline: json "
                  "per line."),
        "table": {"columns": ["step", "ours s", "json only s", "ours / json", "lines/s (ours)"],
                  "rows": rows},
        "summary": s,
        "targets": [target("every output line read back", s["answered"] == n,
                           f"{s['answered']:,}/{n:,} answers")],
        "trials": rounds,
    }


def from_trials(sizes: Sizes, trials: Any) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    return summarise(sizes, trials)
