"""Queue mode against one account's rate limit: N workers, one shared Redis bucket.

What it answers: do N Celery workers together stay under the limit the account
has (the simulator answers 429 beyond it, like OpenAI), and how much of it do
they use? For scale, the same rows run in one process through ``llm_magics.map``
with the in-process limiter at the same limit (the baseline), in the same run.

    python benchmarks/queue_rate.py                         # 600 rows, 300 RPM, 2 workers x 8
    python benchmarks/queue_rate.py --rows 300 --rpm 600 --workers 3 --no-baseline

Starts its own redis-server (temporary, no persistence), simulator process and
worker processes, and stops them at the end. Reported per path: wall time,
achieved rate (accepted requests per minute, first to last) over the limit,
share of requests answered 429, requests beyond one per row (paid twice), and a
re-run from the cache (time, requests: should be 0). Figures, not a judgement.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODEL = "sim-small"
KEY = "sk-bench-worker"


def prompts(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{tag} summarise item {i}" for i in range(n)]


def server_figures(sim: Any, rows: int, rpm: int, wall: float) -> dict[str, Any]:
    stats = sim.stats
    times = sorted(stats["accepted_times"])
    rate = (len(times) - 1) / (times[-1] - times[0]) * 60 if len(times) > 1 else float("nan")
    requests = stats["chat_requests"]
    return {
        "wall_s": round(wall, 2),
        "rows_per_s": round(rows / wall, 2),
        "achieved_rpm": round(rate, 1),
        "rate_over_limit": round(rate / rpm, 3),
        "requests": requests,
        "share_429": round(stats["rate_limited"] / requests, 4) if requests else 0.0,
        "paid_twice": stats["chat_ok"] - rows,
    }


def timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def run_queue(sim: Any, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from llm_magics import queue
    from tests.support.queue_procs import RedisServer, WorkerProcess

    texts = prompts(args.rows)
    with RedisServer() as redis:
        env = {"OPENAI_BASE_URL": sim.base_url, "OPENAI_API_KEY": KEY,
               "LLM_MAGICS_CACHE_PATH": str(tmp / "workers.sqlite")}
        workers = [WorkerProcess(redis.url, concurrency=args.concurrency, env=env,
                                 isolate=True, log_path=tmp / f"worker-{i}.log")
                   for i in range(args.workers)]
        try:
            for worker in workers:
                worker.start()
            options = {"model": MODEL, "base_url": sim.base_url, "redis_url": redis.url,
                       "cache_path": tmp / "notebook.sqlite"}
            out, wall = timed(lambda: queue.map(texts, rpm=args.rpm, **options))
            figures = server_figures(sim, args.rows, args.rpm, wall)
            before = sim.stats["chat_requests"]
            _, rerun = timed(lambda: queue.map(texts, rpm=args.rpm, **options))
            figures.update(rerun_s=round(rerun, 3),
                           rerun_requests=sim.stats["chat_requests"] - before,
                           failed_rows=sum(not hasattr(r, "text") for r in out))
        finally:
            for worker in workers:
                worker.stop()
    return figures


def run_baseline(sim: Any, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import llm_magics

    texts = prompts(args.rows)
    out, wall = timed(lambda: llm_magics.map(
        texts, model=MODEL, base_url=sim.base_url, api_key=KEY, rpm=args.rpm,
        concurrency=args.workers * args.concurrency, cache_path=tmp / "baseline.sqlite"))
    figures = server_figures(sim, args.rows, args.rpm, wall)
    figures["failed_rows"] = sum(not hasattr(r, "text") for r in out)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--rpm", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="per worker")
    parser.add_argument("--latency", type=float, default=0.2, help="simulator latency, s")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)

    from tests.support.sim import SimulatorProcess

    report: dict[str, Any] = {"rows": args.rows, "rpm_limit": args.rpm,
                              "workers": args.workers, "concurrency": args.concurrency}
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp_dir, SimulatorProcess(
            api_key=KEY, rpm=args.rpm, latency_s=args.latency) as sim:
        tmp = Path(tmp_dir)
        report["queue"] = run_queue(sim, args, tmp)
        if args.baseline:
            sim.reset("run")  # counters and the server's rate-limit window start afresh
            report["baseline_in_process_map"] = run_baseline(sim, args, tmp)
            report["queue_rate_over_baseline"] = round(
                report["queue"]["achieved_rpm"]
                / report["baseline_in_process_map"]["achieved_rpm"], 3)

    q = report["queue"]
    print(f"queue: {args.rows} rows, {args.workers} workers x {args.concurrency}, "
          f"limit {args.rpm} RPM")
    print(f"  achieved {q['achieved_rpm']} RPM = {q['rate_over_limit']:.1%} of the limit, "
          f"429 share {q['share_429']:.2%}, wall {q['wall_s']} s, paid twice {q['paid_twice']}")
    print(f"  re-run from cache: {q['rerun_s']} s, {q['rerun_requests']} requests")
    if args.baseline:
        b = report["baseline_in_process_map"]
        print(f"baseline (one process, llm_magics.map): {b['achieved_rpm']} RPM = "
              f"{b['rate_over_limit']:.1%}, 429 share {b['share_429']:.2%}, "
              f"wall {b['wall_s']} s")
        print(f"queue / baseline rate: {report['queue_rate_over_baseline']}")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
