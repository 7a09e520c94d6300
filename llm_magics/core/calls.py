"""The library face of the core: complete, stream and map, sync and async.

The async path is written once and runs on the runner's background loop (one
connection pool, one limiter); the sync functions wait on it, and the async
functions await it from whatever loop the caller is on. So ``complete()`` works
in a script and inside a running loop (a Jupyter cell) alike, without
nest-asyncio::

    >>> import llm_magics
    >>> llm_magics.complete("Say hi").text          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import builtins
import importlib
import queue
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

from .. import errors
from .client import Endpoint, resolve_endpoint
from .engine import CallStats, get_engine
from .fanout import Outcome, fanout
from .request_fields import request_params
from .runner import in_runner_thread, run_sync, submit
from .settings import FIELDS, Settings, resolve
from .types import Messages, Priority, Request, Response, to_messages

__all__ = [
    "complete", "acomplete", "stream", "astream", "map", "amap", "status",
    "TextStream", "AsyncTextStream", "prepare", "split_options", "resolve_call", "requests_for",
]

T = TypeVar("T")


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword arguments into settings and request params (temperature, max_tokens...)."""
    settings = {k: v for k, v in options.items() if k in FIELDS}
    params = request_params({k: v for k, v in options.items() if k not in FIELDS})
    return settings, params


def prepare(
    prompt_or_messages: str | Messages,
    *,
    system: str | None,
    settings: Settings,
    endpoint: Endpoint,
    params: dict[str, Any],
    priority: Priority | None = None,
) -> Request:
    return Request(
        messages=to_messages(prompt_or_messages, system),
        model=endpoint.model,
        base_url=endpoint.base_url,
        params=params,
        priority=priority or settings.priority,
    )


async def _on_runner(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the runner loop, from any loop (cancellation goes through)."""
    if in_runner_thread():
        return await coro
    return await asyncio.wrap_future(submit(coro))


async def resolve_call(options: dict[str, Any]) -> tuple[Settings, Endpoint, dict[str, Any]]:
    """Settings, endpoint and request params for one call's keyword options."""
    setting_args, params = split_options(options)
    settings = resolve(**setting_args)
    if settings.base_url is None and settings.api_key is None:
        # Starting the embedded local model blocks for a few seconds: keep it off the loop.
        endpoint = await asyncio.to_thread(resolve_endpoint, settings)
    else:
        endpoint = resolve_endpoint(settings)
    return settings, endpoint, params


async def _complete(prompt_or_messages, system, priority, use_cache, options) -> Response:
    settings, endpoint, params = await resolve_call(options)
    request = prepare(prompt_or_messages, system=system, settings=settings, endpoint=endpoint,
                      params=params, priority=priority)
    return await get_engine().complete(request, endpoint, settings, use_cache=use_cache)


async def acomplete(
    prompt_or_messages: str | Messages,
    *,
    model: str | None = None,
    system: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    **params: Any,
) -> Response:
    """One chat completion. ``params`` are settings (rpm, timeout...) or request fields."""
    options = {"model": model, "base_url": base_url, "api_key": api_key, **params}
    return await _on_runner(_complete(prompt_or_messages, system, priority, cache, options))


def complete(
    prompt_or_messages: str | Messages,
    *,
    model: str | None = None,
    system: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    **params: Any,
) -> Response:
    """Blocking chat completion; works in scripts and notebook cells alike.

        >>> r = complete("Name a colour", temperature=0)        # doctest: +SKIP
        >>> r.text, r.usage.total_tokens, r.cost_usd           # doctest: +SKIP
    """
    options = {"model": model, "base_url": base_url, "api_key": api_key, **params}
    return run_sync(_complete(prompt_or_messages, system, priority, cache, options))


# -- streaming -------------------------------------------------------------------------------
_END = object()


async def _produce(prompt_or_messages, system, priority, use_cache, options, emit) -> None:
    """Run a stream on the runner loop, handing each item to ``emit`` (thread-safe)."""
    try:
        settings, endpoint, params = await resolve_call(options)
        request = prepare(prompt_or_messages, system=system, settings=settings,
                          endpoint=endpoint, params=params, priority=priority)
        async for item in get_engine().stream(request, endpoint, settings, use_cache=use_cache):
            emit(item)
    except BaseException as err:  # noqa: BLE001 - handed to the consumer, re-raised there
        emit(err)
        if isinstance(err, asyncio.CancelledError):
            raise
    finally:
        emit(_END)


class _StreamState:
    """What both stream faces keep: the text so far and, at the end, the Response."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.response: Response | None = None
        self.error: BaseException | None = None

    @property
    def text(self) -> str:
        return self.response.text if self.response else "".join(self.parts)

    def take(self, item: Any) -> str | None:
        """Record one item; return a delta to hand out, None for bookkeeping, raise errors."""
        if isinstance(item, Response):
            self.response = item
            return None
        if isinstance(item, BaseException):
            self.error = item
            raise item
        self.parts.append(item)
        return item


class TextStream(_StreamState):
    """Iterate text deltas as they arrive; ``.response`` holds the final Response.

        >>> s = stream("Write a haiku")                # doctest: +SKIP
        >>> for delta in s: print(delta, end="")      # doctest: +SKIP
        >>> s.response.ttft_s                          # doctest: +SKIP

    Ctrl-C (or ``close()``) cancels the request; the text so far stays in ``.text``.
    """

    def __init__(self, args: tuple[Any, ...]) -> None:
        super().__init__()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._future = submit(_produce(*args, self._queue.put))
        self._done = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while not self._done:
            try:
                item = self._queue.get()
            except KeyboardInterrupt:
                self.close()
                raise
            if item is _END:
                self._done = True
                break
            delta = self.take(item)
            if delta is not None:
                return delta
        raise StopIteration

    def close(self) -> None:
        self._future.cancel()
        self._done = True

    def __enter__(self) -> TextStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncTextStream(_StreamState):
    """``async for delta in astream(...)``; ``.response`` after the loop ends."""

    def __init__(self, args: tuple[Any, ...]) -> None:
        super().__init__()
        self._args = args
        self._queue: asyncio.Queue[Any] | None = None
        self._future: Any = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        if self._queue is None:
            loop = asyncio.get_running_loop()
            self._queue = asyncio.Queue()
            put = self._queue.put_nowait
            if in_runner_thread():
                self._future = asyncio.ensure_future(_produce(*self._args, put))
            else:
                self._future = submit(
                    _produce(*self._args, lambda item: loop.call_soon_threadsafe(put, item))
                )
        while True:
            try:
                item = await self._queue.get()
            except asyncio.CancelledError:
                await self.aclose()
                raise
            if item is _END:
                raise StopAsyncIteration
            delta = self.take(item)
            if delta is not None:
                return delta

    async def aclose(self) -> None:
        if self._future is not None:
            self._future.cancel()


def _stream_args(prompt_or_messages, model, system, base_url, api_key, priority, cache, params):
    options = {"model": model, "base_url": base_url, "api_key": api_key, **params}
    return (prompt_or_messages, system, priority, cache, options)


def stream(
    prompt_or_messages: str | Messages,
    *,
    model: str | None = None,
    system: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    **params: Any,
) -> TextStream:
    """Stream text deltas (sync iterator); the final Response is ``.response``."""
    return TextStream(_stream_args(prompt_or_messages, model, system, base_url, api_key,
                                   priority, cache, params))


def astream(
    prompt_or_messages: str | Messages,
    *,
    model: str | None = None,
    system: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    **params: Any,
) -> AsyncTextStream:
    """``async for delta in astream(...)``; the final Response is ``.response``."""
    return AsyncTextStream(_stream_args(prompt_or_messages, model, system, base_url, api_key,
                                        priority, cache, params))


# -- fan-out ---------------------------------------------------------------------------------
def requests_for(prompts: Iterable[str | Messages], system: str | None, settings: Settings,
                  endpoint: Endpoint, params: dict[str, Any], priority: Priority | None
                  ) -> list[Request | errors.LLMError]:
    """One request per prompt, in order; a prompt that cannot be sent is its error instead."""
    out: list[Request | errors.LLMError] = []
    for p in prompts:
        try:
            out.append(prepare(p, system=system, settings=settings, endpoint=endpoint,
                               params=params, priority=priority))
        except errors.LLMError as err:  # a bad prompt is an error in its slot, not a crash
            out.append(err)
    return out


async def _amap(prompts, system, priority, use_cache, concurrency, stats, options,
                mode="async") -> list[Outcome]:
    if mode == "queue":
        # The queue is an optional extra that depends on the core, never the reverse:
        # loaded by name, only when asked for.
        queue = importlib.import_module("llm_magics.queue")
        return await queue.amap(prompts, system=system, priority=priority, cache=use_cache,
                                stats=stats, concurrency=concurrency, **options)
    if mode != "async":
        raise errors.InvalidRequestError(
            f"mode={mode!r} is not a map() mode; use 'async' (default) or 'queue'. For the "
            "Batch API use llm_magics.batch.submit()."
        )
    settings, endpoint, params = await resolve_call(options)
    requests = requests_for(prompts, system, settings, endpoint, params, priority)
    results = await fanout(get_engine(), requests, endpoint, settings, concurrency=concurrency,
                           use_cache=use_cache, stats=stats)
    return results  # type: ignore[return-value]


async def amap(
    prompts: Iterable[str | Messages],
    *,
    concurrency: int | None = None,
    model: str | None = None,
    system: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    stats: CallStats | None = None,
    mode: str = "async",
    **options: Any,
) -> list[Outcome]:
    """Concurrent completions in input order; a failed prompt is an ``LLMError`` in its slot.

    ``mode="queue"`` runs them on Celery workers instead (``llm-magics worker``).
    """
    prompts = builtins.list(prompts)
    return await _on_runner(_amap(prompts, system, priority, cache, concurrency, stats,
                                  {"model": model, **options}, mode))


def map(  # noqa: A001 - mirrors the builtin on purpose: llm_magics.map(prompts)
    prompts: Iterable[str | Messages],
    *,
    concurrency: int | None = None,
    model: str | None = None,
    system: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    stats: CallStats | None = None,
    mode: str = "async",
    **options: Any,
) -> list[Outcome]:
    """Blocking concurrent completions in input order, errors as values.

    ``mode="queue"`` runs them on Celery workers instead (``llm-magics worker``).

        >>> results = map([f"Define {w}" for w in words], concurrency=64, rpm=500)  # doctest: +SKIP
    """
    prompts = builtins.list(prompts)
    return run_sync(_amap(prompts, system, priority, cache, concurrency, stats,
                          {"model": model, **options}, mode))


def status() -> dict[str, Any]:
    """Breaker state, limiter state and totals for every endpoint used in this process."""
    return get_engine().status()

