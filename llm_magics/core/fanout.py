"""Bounded concurrent fan-out: many requests, results in input order, errors as values.

Identical requests are sent once and share the answer. Cached answers are
looked up in one pass before any call, so a re-run costs no requests and
little time. A fixed pool of workers pulls from the list (no task per row), so
100,000 rows cost memory for the results, not for 100,000 coroutines. If the
fan-out is cancelled (kernel interrupt), finished answers are already in the
cache and a re-run sends only the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from .. import errors
from .client import Endpoint
from .engine import CallStats, Engine
from .settings import Settings
from .types import Request, Response

__all__ = ["fanout", "Outcome"]

Outcome = Response | errors.LLMError

LOCAL_MAX_CONCURRENCY = 2


async def fanout(
    engine: Engine,
    requests: Sequence[Request | errors.LLMError | None],
    endpoint: Endpoint,
    settings: Settings,
    *,
    concurrency: int | None = None,
    use_cache: bool | None = None,
    stats: CallStats | None = None,
    on_result: Callable[[int, Outcome | None], None] | None = None,
) -> list[Outcome | None]:
    """Run ``requests``; an item that is already an error (or None) passes through as is.

    ``on_result(i, outcome)`` is called once per input position as it finishes,
    in completion order (cached and pass-through items first).
    """
    stats = stats if stats is not None else CallStats()
    results: list[Outcome | None] = [None] * len(requests)
    groups: dict[str, list[int]] = {}  # cache key -> input positions sharing it
    unique: list[tuple[str, Request]] = []

    def deliver(i: int, outcome: Outcome | None) -> None:
        results[i] = outcome
        if on_result is not None:
            on_result(i, outcome)

    for i, req in enumerate(requests):
        if not isinstance(req, Request):
            if isinstance(req, errors.LLMError):
                stats.failed += 1
            deliver(i, req)
            continue
        key = req.cache_key()
        if key not in groups:
            groups[key] = []
            unique.append((key, req))
        groups[key].append(i)

    cache = engine.cache_for(settings, use_cache)
    if cache is not None and unique:
        hits = cache.get_many(k for k, _ in unique)
        for key, hit in hits.items():
            stats.add_response(hit)
            for i in groups[key]:
                deliver(i, hit)
        unique = [(k, r) for k, r in unique if k not in hits]

    position = 0

    async def worker() -> None:
        nonlocal position
        while position < len(unique):
            key, req = unique[position]
            position += 1
            try:
                outcome: Outcome = await engine.complete(
                    req, endpoint, settings, stats=stats, use_cache=use_cache, looked_up=True
                )
            except errors.LLMError as err:
                outcome = err
            except Exception as err:  # noqa: BLE001 - a bad row must not sink the fan-out
                stats.failed += 1
                outcome = errors.LLMError(f"Unexpected {type(err).__name__}: {err}")
            for i in groups[key]:
                deliver(i, outcome)

    workers = max(1, min(concurrency or settings.concurrency, len(unique)))
    if endpoint.local:  # llama.cpp answers one request at a time; more only time out waiting
        workers = min(workers, LOCAL_MAX_CONCURRENCY)
    tasks = [asyncio.ensure_future(worker()) for _ in range(workers)] if unique else []
    try:
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if cache is not None:
            cache.flush()
    return results
