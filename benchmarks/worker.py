"""A benchmark worker process: runs one contender's tasks, sent as JSON lines on stdin.

Why a process per contender: CPU seconds and peak RSS are only honest if
nothing else lives in the process (LiteLLM starts threads and loads large
tables at import; llm-magics runs its own loop thread). The process stays up
between tasks, so contenders can be interleaved round after round without
paying for start-up each time, and it reports every non-loopback connection
attempt it saw (an audit hook), which is how the report proves LiteLLM
fetched nothing.

    python -m benchmarks.worker          # then write {"op": "fanout", ...} lines

Each answer is one stdout line starting with ``@@bench `` followed by JSON;
anything else a library prints is ignored by the parent.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time
import traceback
from typing import Any

MARK = "@@bench "
_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")

outside: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Record connection attempts to anything but loopback (the sandbox has no network)."""
    host: Any = None
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else None
    elif event == "socket.getaddrinfo":
        host = args[0]
    if host is None:
        return
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not str(host).startswith(_LOOPBACK) and len(outside) < 50:
        outside.append(f"{event} {host}")


def _summarise(outcomes: list[Any]) -> dict[str, Any]:
    errors = collections.Counter(type(o).__name__ for o in outcomes if not isinstance(o, str))
    return {"n": len(outcomes), "ok": len(outcomes) - sum(errors.values()),
            "failed": sum(errors.values()), "errors": dict(errors)}


def op_fanout(task: dict[str, Any]) -> dict[str, Any]:
    from .common import cpu_s, peak_rss_mb, prompts
    from .contenders import run_contender

    texts = prompts(task["n"], task["tag"])
    stats: dict[str, Any] = {}
    rss_before = peak_rss_mb()
    cpu0, wall0 = cpu_s(), time.perf_counter()
    outcomes = asyncio.run(run_contender(task["contender"], task["base_url"], texts,
                                         task["concurrency"], task.get("options"), stats))
    wall, cpu = time.perf_counter() - wall0, cpu_s() - cpu0
    return {"wall_s": wall, "cpu_s": cpu, "rss_before_mb": rss_before,
            "peak_rss_mb": peak_rss_mb(), "ours_stats": stats or None, **_summarise(outcomes)}


def op_ttft(task: dict[str, Any]) -> dict[str, Any]:
    from .streams import measure_ttft

    return measure_ttft(task["kind"], task["base_url"], task["prompt"])


def op_stream_view(task: dict[str, Any]) -> dict[str, Any]:
    from .streams import measure_stream_view

    return measure_stream_view(task["base_url"], task["prompt"])


def op_batch(task: dict[str, Any]) -> dict[str, Any]:
    from .batch_lines import measure_batch

    return measure_batch(task["n"])


def op_prepare(task: dict[str, Any]) -> dict[str, Any]:
    """Import what a contender needs, so imports never land inside a timed task."""
    from . import contenders

    contenders.preload(task.get("contender", ""))
    return {}


OPS = {"fanout": op_fanout, "prepare": op_prepare, "ttft": op_ttft,
       "stream_view": op_stream_view, "batch": op_batch, "ping": lambda task: {}}


def main() -> int:
    sys.addaudithook(_audit)
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        try:
            result = OPS[task["op"]](task)
        except Exception as err:  # noqa: BLE001 - reported to the parent, which decides
            result = {"error": f"{type(err).__name__}: {err}",
                      "traceback": traceback.format_exc(limit=8)}
        result["outside_connections"] = list(outside)
        sys.stdout.write(MARK + json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
