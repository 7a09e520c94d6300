"""df.llm.apply throughput against a bare AsyncOpenAI + Semaphore + gather loop, same run.

What it answers: does the policy stack (cache, breaker, limiter, retry, dedup,
progress, pandas assembly) cost throughput compared with the simplest correct
asyncio loop? And how close do both get to the bound concurrency / latency?

    python benchmarks/fanout_throughput.py                       # 10,000 rows, 64, 200 ms
    python benchmarks/fanout_throughput.py --rows 2000 --rss-rows 20000

The simulator runs in its own process (``SimulatorProcess``), so its CPU is not
the client's. Reported: wall time, requests/s and the ratio ours/baseline and
ours/bound; CPU seconds of the client and the simulator per run (on a small
machine the client's CPU, not the latency, can be the real bound); a re-run of
the same apply from the cache (time, and calls that reached the server: should
be 0); and peak RSS of a 100,000-row apply, measured in a fresh subprocess with
``resource.getrusage``. Not a timed test: it prints figures, it does not judge.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODEL = "sim-small"
OURS = "ours: df.llm.apply (async, cache on)"


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    try:
        import psutil
    except ImportError:
        return float("nan")
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def prompts(n: int, tag: str) -> list[str]:
    return [f"Define the word number {i} ({tag})" for i in range(n)]


async def _baseline(base_url: str, texts: list[str], concurrency: int) -> list[str]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(text: str) -> str:
        async with semaphore:
            completion = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": text}])
            return completion.choices[0].message.content or ""

    try:
        return await asyncio.gather(*(one(t) for t in texts))
    finally:
        await client.close()


def measure(label: str, sim: Any, fn: Any) -> dict[str, Any]:
    before = sim.stats["chat_requests"]
    cpu0, sim_cpu0 = _cpu_self(), _cpu_of(sim.pid)
    started = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - started
    calls = sim.stats["chat_requests"] - before
    return {
        "label": label,
        "wall_s": wall,
        "calls": calls,
        "rows": len(result),
        "rps": len(result) / wall,
        "client_cpu_s": _cpu_self() - cpu0,
        "sim_cpu_s": _cpu_of(sim.pid) - sim_cpu0,
    }


def run_baseline(sim: Any, rows: int, concurrency: int, tag: str) -> dict[str, Any]:
    texts = prompts(rows, tag)
    return measure("baseline: AsyncOpenAI + Semaphore + gather", sim,
                   lambda: asyncio.run(_baseline(sim.base_url, texts, concurrency)))


def run_ours(sim: Any, rows: int, concurrency: int, tag: str, label: str) -> dict[str, Any]:
    import pandas as pd

    df = pd.DataFrame({"text": prompts(rows, tag)})
    return measure(label, sim, lambda: df.llm.apply("{text}", concurrency=concurrency,
                                                    progress=False))


def rss_child(base_url: str, rows: int, concurrency: int) -> None:
    """In a fresh process: one big apply, then print peak RSS (KiB on Linux) as JSON."""
    import pandas as pd

    import llm_magics
    from llm_magics.pandas import register

    register()
    llm_magics.configure(base_url=base_url, api_key="sk-test", model=MODEL)
    df = pd.DataFrame({"text": [f"w{i}" for i in range(rows)]})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    out = df.llm.apply("{text}", concurrency=concurrency, progress=False)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": len(out), "answered": int(out.notna().sum()), "wall_s": wall,
                      "rss_before_mb": before / 1024, "peak_rss_mb": peak / 1024}))


def run_rss(sim: Any, rows: int, concurrency: int) -> dict[str, Any]:
    env = dict(os.environ)
    env["LLM_MAGICS_CACHE_PATH"] = str(Path(tempfile.mkdtemp()) / "rss-cache.sqlite")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    before = sim.stats["chat_requests"]
    proc = subprocess.run(
        [sys.executable, __file__, "--rss-child", sim.base_url, "--rss-rows", str(rows),
         "--concurrency", str(concurrency)],
        capture_output=True, text=True, env=env, check=True,
    )
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    data["calls"] = sim.stats["chat_requests"] - before
    return data


def report(row: dict[str, Any], bound: float, baseline: dict[str, Any] | None) -> str:
    ratio = f"  {row['rps'] / baseline['rps']:.2f}x baseline" if baseline else ""
    return (
        f"{row['label']:<44} {row['rows']:>7,} rows {row['wall_s']:7.2f} s "
        f"{row['rps']:7.1f} req/s  {row['rps'] / bound:5.1%} of bound{ratio}\n"
        f"{'':<44} calls {row['calls']:,}; CPU: client {row['client_cpu_s']:.1f} s "
        f"({row['client_cpu_s'] / row['wall_s']:.0%} of one core), simulator "
        f"{row['sim_cpu_s']:.1f} s ({row['sim_cpu_s'] / row['wall_s']:.0%})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2, help="simulated latency (s)")
    parser.add_argument("--rss-rows", type=int, default=100_000)
    parser.add_argument("--rss-latency", type=float, default=0.0,
                        help="simulated latency for the RSS run (0: as fast as the CPU allows)")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="alternate baseline/ours N times")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--rss-child", metavar="BASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.rss_child:
        rss_child(args.rss_child, args.rss_rows, args.concurrency)
        return 0

    import llm_magics
    from llm_magics.pandas import register
    from tests.support.sim import SimulatorProcess

    register()
    bound = args.concurrency / args.latency
    figures: dict[str, Any] = {"rows": args.rows, "concurrency": args.concurrency,
                               "latency_s": args.latency, "bound_rps": bound,
                               "cores": os.cpu_count(), "rounds": []}
    with tempfile.TemporaryDirectory() as tmp, SimulatorProcess(latency_s=args.latency) as sim:
        os.environ["LLM_MAGICS_CACHE_PATH"] = str(Path(tmp) / "cache.sqlite")
        llm_magics.configure(base_url=sim.base_url, api_key="sk-test", model=MODEL)
        print(f"{args.rows:,} rows, concurrency {args.concurrency}, latency "
              f"{args.latency * 1000:.0f} ms: bound {bound:.0f} req/s; {os.cpu_count()} cores\n")
        # Warm both paths (imports, connection pools, first-call costs) outside the timings.
        run_baseline(sim, args.concurrency, args.concurrency, "warm")
        run_ours(sim, args.concurrency, args.concurrency, "warm", "warm")
        for r in range(args.rounds):
            # Alternate who goes first, so warm-up or machine noise does not favour one side.
            first_ours = r % 2 == 1
            if first_ours:
                ours = run_ours(sim, args.rows, args.concurrency, f"ours{r}", OURS)
            base = run_baseline(sim, args.rows, args.concurrency, f"base{r}")
            if not first_ours:
                ours = run_ours(sim, args.rows, args.concurrency, f"ours{r}", OURS)
            print(f"round {r + 1} ({'ours' if first_ours else 'baseline'} first)")
            print(report(base, bound, None))
            print(report(ours, bound, base))
            rerun = run_ours(sim, args.rows, args.concurrency, f"ours{r}",
                             "ours again, from the cache")
            print(f"{rerun['label']:<44} {rerun['rows']:>7,} rows {rerun['wall_s']:7.2f} s, "
                  f"{rerun['calls']} calls to the simulator\n")
            figures["rounds"].append({"baseline": base, "ours": ours, "rerun": rerun,
                                      "ratio": ours["rps"] / base["rps"]})
        ratios = sorted(x["ratio"] for x in figures["rounds"])
        figures["median_ratio"] = statistics.median(ratios)
        print(f"median ours/baseline over {len(ratios)} round(s): {figures['median_ratio']:.2f}x")
        if not args.skip_rss:
            sim.configure(latency_s=args.rss_latency)
            rss = run_rss(sim, args.rss_rows, args.concurrency)
            figures["rss"] = rss
            print(f"peak RSS, {rss['rows']:,} short rows in a fresh process: "
                  f"{rss['peak_rss_mb']:.0f} MB (before the apply {rss['rss_before_mb']:.0f} MB;"
                  f" {rss['calls']:,} calls, {rss['wall_s']:.1f} s)")
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
