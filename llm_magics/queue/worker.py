"""``llm-magics worker``: a Celery worker for ``mode="queue"``.

    llm-magics worker --concurrency 16                  # threads pool, Redis from settings
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=sk-... llm-magics worker

The default pool is ``threads``: every call is I/O-bound and runs on the core's
one background event loop, so N threads give N calls in flight in one process
with one connection pool, one cache handle and one engine. ``prefork`` works
too (each child starts its own loop); use it to spread CPU over cores, at the
cost of a process per slot. ``solo`` runs one call at a time.

The worker takes its API key and base URL from its own environment and never
from a task; it checks Redis before it starts, so a wrong URL fails at once.
It beats in Redis while it runs (``heartbeat``), so if it dies, the tasks it
held are republished within seconds (``LLM_MAGICS_QUEUE_HEARTBEAT_TTL``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..core.settings import resolve
from .app import make_app
from .config import QUEUE_NAME, QueueConfig
from .errors import BrokerUnavailableError
from .health import check_broker, mask_url
from .heartbeat import Heartbeat

__all__ = ["main", "build_parser"]

POOLS = ("threads", "prefork", "solo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-magics worker",
        description="Run queued llm-magics calls (mode='queue') from Redis.",
    )
    parser.add_argument("-c", "--concurrency", type=int, default=16,
                        help="calls in flight at once in this worker (default 16)")
    parser.add_argument("-P", "--pool", choices=POOLS, default="threads",
                        help="execution pool (default threads; see module docs)")
    parser.add_argument("-l", "--loglevel", default="INFO", help="log level (default INFO)")
    parser.add_argument("--redis-url", default=None,
                        help="Redis URL (default: LLM_MAGICS_REDIS_URL or settings redis_url)")
    parser.add_argument("-n", "--hostname", default=None,
                        help="worker node name (default llm-magics-<pid>@<host>)")
    parser.add_argument("--visibility-timeout", type=float, default=None,
                        help="seconds before an unacked task is redelivered when no heartbeat "
                        "republished it first (default LLM_MAGICS_QUEUE_VISIBILITY_TIMEOUT "
                        "or 1800)")
    parser.add_argument("--restore-interval", type=float, default=None,
                        help="seconds between sweeps for such tasks (default 30)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.concurrency < 1:
        print("llm-magics worker: --concurrency must be at least 1", file=sys.stderr)
        return 2
    redis_url = args.redis_url or resolve().redis_url
    config = QueueConfig.from_env(visibility_timeout_s=args.visibility_timeout,
                                  restore_interval_s=args.restore_interval)
    try:
        check_broker(redis_url, config.connect_timeout_s)
    except BrokerUnavailableError as err:
        print(f"llm-magics worker: {err.message}", file=sys.stderr)
        return 1
    logging.basicConfig(level=args.loglevel.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = make_app(redis_url, config)
    Heartbeat(app, config).install()
    hostname = args.hostname or f"llm-magics-{os.getpid()}@%h"
    print(f"llm-magics worker on {mask_url(redis_url)}, queue {QUEUE_NAME!r}, "
          f"pool {args.pool} x{args.concurrency}", file=sys.stderr, flush=True)
    app.worker_main([
        "worker",
        f"--pool={args.pool}",
        f"--concurrency={args.concurrency}",
        f"--loglevel={args.loglevel.upper()}",
        f"--hostname={hostname}",
        f"--queues={QUEUE_NAME}",
        "--without-gossip",
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
