"""``python -m benchmarks`` (from a checkout): every scenario, every contender, one run.

Writes ``benchmarks/results.json``, ``docs/benchmarks.md`` and
``docs/img/benchmarks.png``. CPU-sensitive scenarios run first and alone;
the rate-limited one, which is paced by the simulated limit rather than by
CPU and lasts minutes by nature, runs in the background while the rest go.

    python -m benchmarks                 # full sizes, 11-15 minutes on 2 cores (by load)
    python -m benchmarks --quick         # every scenario scaled down, ~4 minutes
    python -m benchmarks --only faults,streaming --out-dir /tmp/bench
    python -m benchmarks --only overhead --merge   # re-run one scenario, keep the others
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .pool import REPO
from .report import machine_facts, write_chart, write_json, write_markdown
from .scenarios import BACKGROUND, ORDER
from .sizes import Sizes, by_name

__all__ = ["main", "run_all", "rederive", "merged"]


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _run_one(name: str, sizes: Sizes) -> dict[str, Any]:
    module = importlib.import_module(f"benchmarks.scenarios.{name}")
    started = time.perf_counter()
    try:
        result = module.run(sizes, lambda msg: _log(f"{name}: {msg.strip()}"))
    except Exception as err:  # noqa: BLE001 - one broken scenario must not hide the others
        _log(f"{name}: FAILED {type(err).__name__}: {err}")
        result = {"title": getattr(module, "TITLE", name),
                  "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    result["elapsed_s"] = time.perf_counter() - started
    _log(f"{name}: done in {result['elapsed_s']:.0f}s")
    return result


def run_all(sizes: Sizes, only: list[str] | None = None) -> dict[str, Any]:
    """Run the chosen scenarios in ``ORDER``; background ones overlap the ones after them."""
    chosen = [s for s in ORDER if only is None or s in only]
    facts = machine_facts()
    started = time.perf_counter()
    results: dict[str, Any] = {}
    background: dict[str, concurrent.futures.Future[dict[str, Any]]] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(BACKGROUND))) as pool:
        for name in chosen:
            _log(f"{name}: start")
            if name in BACKGROUND:
                background[name] = pool.submit(_run_one, name, sizes)
            else:
                results[name] = _run_one(name, sizes)
        for name, future in background.items():
            results[name] = future.result()
    return {
        "generated_at": facts["date"],
        "machine": facts,
        "sizes": sizes.__dict__,
        "elapsed_s": time.perf_counter() - started,
        "outside_connections": _outside(results),
        "scenarios": {name: results[name] for name in chosen},
    }


def rederive(results: dict[str, Any]) -> dict[str, Any]:
    """Tables, summaries and targets again from the stored trials, with today's analysis."""
    sizes = Sizes(**results["sizes"])
    for name, result in results["scenarios"].items():
        if "error" in result or "trials" not in result:
            continue
        module = importlib.import_module(f"benchmarks.scenarios.{name}")
        fresh = module.from_trials(sizes, result["trials"])
        fresh["elapsed_s"] = result.get("elapsed_s")
        results["scenarios"][name] = fresh
    return results


def merged(previous: dict[str, Any], rerun: dict[str, Any]) -> dict[str, Any]:
    """``previous`` with the scenarios of ``rerun`` replaced, and the re-run recorded."""
    both = {**previous["scenarios"], **rerun["scenarios"]}
    previous["scenarios"] = {name: both[name] for name in ORDER if name in both}
    previous["outside_connections"] = sorted({*previous.get("outside_connections", ()),
                                              *rerun["outside_connections"]})
    previous["reruns"] = [*previous.get("reruns", ()), {
        "date": rerun["generated_at"], "scenarios": list(rerun["scenarios"]),
        "elapsed_s": rerun["elapsed_s"], "machine": rerun["machine"]}]
    return previous


def _outside(results: dict[str, Any]) -> list[str]:
    """Every non-loopback connection attempt any worker reported (should be none)."""
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "outside_connections" and isinstance(value, list):
                    seen.update(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(results)
    return sorted(seen)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="scaled-down sizes (a few minutes)")
    size.add_argument("--tiny", action="store_true",
                      help="smoke-test sizes (seconds per scenario; what the tests run)")
    parser.add_argument("--only", help=f"comma-separated scenarios, from: {', '.join(ORDER)}")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override one size, e.g. --set throughput_rounds=3")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="write results.json, benchmarks.md and benchmarks.png here "
                             "instead of benchmarks/ and docs/")
    parser.add_argument("--render-only", action="store_true",
                        help="re-derive tables and targets from the trials in an existing "
                             "results.json, then rewrite it, the markdown and the chart")
    parser.add_argument("--merge", action="store_true",
                        help="with --only: replace those scenarios in the existing results.json "
                             "and keep the others (the report says which were re-run)")
    return parser.parse_args(argv)


def _sizes(args: argparse.Namespace) -> Sizes:
    overrides: dict[str, Any] = {}
    base = by_name("tiny" if args.tiny else "quick" if args.quick else "full")
    for item in args.set:
        field, _, value = item.partition("=")
        current = getattr(base, field)
        overrides[field] = type(current)(value)
    return by_name(base.name, **overrides)


def _paths(out_dir: Path | None) -> tuple[Path, Path, Path]:
    if out_dir is None:
        return (REPO / "benchmarks" / "results.json", REPO / "docs" / "benchmarks.md",
                REPO / "docs" / "img" / "benchmarks.png")
    return out_dir / "results.json", out_dir / "benchmarks.md", out_dir / "benchmarks.png"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    json_path, md_path, png_path = _paths(args.out_dir)
    if args.render_only:
        results = rederive(json.loads(json_path.read_text()))
        write_json(results, json_path)
    else:
        only = [s.strip() for s in args.only.split(",")] if args.only else None
        unknown = sorted(set(only or ()) - set(ORDER))
        if unknown:
            print(f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(ORDER)}",
                  file=sys.stderr)
            return 2
        results = run_all(_sizes(args), only)
        if args.merge and only and json_path.exists():
            results = merged(json.loads(json_path.read_text()), results)
        write_json(results, json_path)
    from .notes import notes_for

    results["notes"] = notes_for(results)
    write_chart(results, png_path)
    write_markdown(results, md_path, chart=png_path)
    _log(f"wrote {json_path}, {md_path}, {png_path} "
         f"({results['elapsed_s'] / 60:.1f} min)")
    failed = [k for k, v in results["scenarios"].items() if "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
