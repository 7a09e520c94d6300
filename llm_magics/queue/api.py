"""``map`` / ``amap`` on the queue: the library face of ``mode="queue"``.

Same arguments and results as ``llm_magics.map``; the calls run on Celery
workers instead of this process's event loop, so the notebook needs no API key
(only the workers hold one) and a fan-out can use many machines.

    >>> from llm_magics import queue
    >>> queue.map([f"Define {w}" for w in words], model="gpt-4o-mini", rpm=500)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from ..core.calls import requests_for, split_options
from ..core.client import HOSTED_DEFAULT_MODEL, NO_KEY, OPENAI_HOST, Endpoint
from ..core.engine import CallStats
from ..core.fanout import Outcome
from ..core.runner import in_runner_thread, run_sync, submit
from ..core.settings import Settings, resolve
from ..core.types import Messages, Priority
from .submit import OnResult, arun_requests

__all__ = ["map", "amap", "queue_endpoint", "resolve_queue_call"]

T = TypeVar("T")


def queue_endpoint(settings: Settings) -> Endpoint:
    """Where queued calls go, resolved without a key: the key belongs to the workers.

    Unlike ``core.client.resolve_endpoint`` this never asks for a key and never
    starts the local model here; set ``base_url`` to what the workers serve.
    """
    base_url = settings.base_url or f"https://{OPENAI_HOST}/v1"
    return Endpoint(base_url, settings.model or HOSTED_DEFAULT_MODEL, NO_KEY)


def resolve_queue_call(options: dict[str, Any]) -> tuple[Settings, Endpoint, dict[str, Any]]:
    """``core.calls.resolve_call`` for queued calls: settings, endpoint, params; no key, no I/O."""
    setting_args, params = split_options(options)
    settings = resolve(**setting_args)
    return settings, queue_endpoint(settings), params


async def _amap(prompts: list[str | Messages], system: str | None, priority: Priority | None,
                use_cache: bool | None, stats: CallStats | None, on_result: OnResult | None,
                options: dict[str, Any]) -> list[Outcome]:
    settings, endpoint, params = resolve_queue_call(options)
    requests = requests_for(prompts, system, settings, endpoint, params, priority)
    results = await arun_requests(requests, endpoint, settings, use_cache=use_cache,
                                  stats=stats, on_result=on_result)
    return results  # type: ignore[return-value]


async def _on_runner(coro: Coroutine[Any, Any, T]) -> T:
    if in_runner_thread():
        return await coro
    return await asyncio.wrap_future(submit(coro))


async def amap(
    prompts: Iterable[str | Messages],
    *,
    model: str | None = None,
    system: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    stats: CallStats | None = None,
    on_result: OnResult | None = None,
    **options: Any,
) -> list[Outcome]:
    """Completions on the queue's workers, in input order; a failed prompt is an error value."""
    prompts = builtins.list(prompts)
    return await _on_runner(_amap(prompts, system, priority, cache, stats, on_result,
                                  {"model": model, **options}))


def map(  # noqa: A001 - mirrors llm_magics.map on purpose
    prompts: Iterable[str | Messages],
    *,
    model: str | None = None,
    system: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    stats: CallStats | None = None,
    on_result: OnResult | None = None,
    **options: Any,
) -> list[Outcome]:
    """Blocking ``amap``; Ctrl-C / kernel interrupt revokes what has not started."""
    prompts = builtins.list(prompts)
    return run_sync(_amap(prompts, system, priority, cache, stats, on_result,
                          {"model": model, **options}))
