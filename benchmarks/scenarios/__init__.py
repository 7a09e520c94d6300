"""One module per scenario; each ``run(sizes, log)`` returns a JSON-ready result dict.

A result holds ``title``, ``setup`` (one paragraph: what ran and why so),
``table`` (``columns`` + ``rows`` for the markdown), ``summary`` (the key
figures, for the chart and the headline table), ``targets`` (each with
``met``: True, False, or None when there is nothing to judge) and the raw
``trials``. The report is generic over that shape, so a scenario owns its
numbers and its explanation, nothing else.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..pool import Worker

__all__ = ["ORDER", "BACKGROUND", "Log", "workers", "target", "rotate", "prepared_worker"]

Log = Callable[[str], None]

ORDER = ("throughput", "rate_limit", "packing", "memory", "overhead", "streaming", "gateway",
         "faults", "cache", "batch", "scaling")
"""Run order. Throughput, the one scenario judged on wall time against a bound, runs first
and alone; the rest start once it is done."""

BACKGROUND = ("rate_limit", "packing", "memory")
"""Scenarios whose figure does not depend on CPU time (a simulated rate limit sets the
pace of one, peak RSS is the figure of the other) and that take minutes: they run in
the background while the foreground ones go, which keeps the full run within 15 minutes.
What the foreground ones report is robust to that company: CPU seconds per request,
medians of interleaved trials, counts."""


def target(text: str, met: bool | None, detail: str) -> dict[str, Any]:
    return {"target": text, "met": met, "detail": detail}


def rotate(items: list[str] | tuple[str, ...], k: int) -> list[str]:
    """Round ``k`` starts at a different contender, so none always runs first or last."""
    items = list(items)
    k %= len(items) or 1
    return items[k:] + items[:k]


def prepared_worker(label: str, contender: str, **kwargs: Any) -> Worker:
    worker = Worker(label, **kwargs).start()
    worker.run("prepare", contender=contender)
    return worker


@contextlib.contextmanager
def workers(contenders: dict[str, str], log: Log | None = None) -> Iterator[dict[str, Worker]]:
    """Start one worker per ``label -> contender`` and import its libraries; stop them all."""
    started = time.perf_counter()
    pool = {label: Worker(label).start() for label in contenders}
    try:
        for label, contender in contenders.items():
            pool[label].run("prepare", contender=contender)
        if log:
            log(f"  {len(pool)} workers ready in {time.perf_counter() - started:.1f}s")
        yield pool
    finally:
        for worker in pool.values():
            worker.stop()
