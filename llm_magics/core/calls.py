"""The library face of the core: complete, stream and map, sync and async.

The async path is written once and runs on the core loop thread (one
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
import queue
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

from .backends import Work
from .backends.auto import plan_work
from .call_stats import CallStats
from .deadline import deadline_at
from .engine import get_engine
from .history.context import default_face
from .loop_thread import in_loop_thread, on_loop, submit, sync_twin
from .pipeline import DEFAULT_MODE, build_requests, plan_call, prepare, resolve_call, start
from .planner import Plan
from .requestset import OnResult, Outcome
from .signatures import parameters_of
from .types import Messages, Priority, Response

T = TypeVar("T", "TextStream", "AsyncTextStream")

__all__ = [
    "complete", "acomplete", "stream", "astream", "map", "amap", "plan", "status",
    "TextStream", "AsyncTextStream",
]


CallArgs = tuple[Any, Any, Any, Any, dict[str, Any]]
"""What one call needs: the prompt, system, priority, cache choice and the other options."""


def _one_call(
    prompt_or_messages: str | Messages,
    *,
    model: str | None = None,
    system: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    **params: Any,
) -> CallArgs:
    """The parameters of ``complete``, ``stream`` and their async twins, declared once."""
    options = {"model": model, "base_url": base_url, "api_key": api_key, **params}
    return prompt_or_messages, system, priority, cache, options


async def _complete(prompt_or_messages, system, priority, use_cache, options) -> Response:
    default_face("complete")
    call = await resolve_call(options)
    request = prepare(prompt_or_messages, call, system=system, priority=priority)
    return await get_engine().complete(request, call.endpoint, call.settings, use_cache=use_cache)


@parameters_of(_one_call)
async def acomplete(args: CallArgs) -> Response:
    """One chat completion. ``params`` are settings (rpm, timeout...) or request fields."""
    return await on_loop(_complete(*args))


complete = sync_twin(
    acomplete, name="complete",
    doc="""Blocking chat completion; works in scripts and notebook cells alike.

        >>> r = complete("Name a colour", temperature=0)        # doctest: +SKIP
        >>> r.text, r.usage.total_tokens, r.cost_usd           # doctest: +SKIP
    """)


# -- streaming -------------------------------------------------------------------------------
_END = object()


async def _produce(prompt_or_messages, system, priority, use_cache, options, emit) -> None:
    """Run a stream on the core loop thread, handing each item to ``emit`` (thread-safe)."""
    try:
        default_face("stream")
        call = await resolve_call(options)
        request = prepare(prompt_or_messages, call, system=system, priority=priority)
        async for item in get_engine().stream(request, call.endpoint, call.settings,
                                              use_cache=use_cache):
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

    Ctrl-C (or ``cancel()``) cancels the request; the text so far stays in ``.text``.
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
                self.cancel()
                raise
            if item is _END:
                self._done = True
                break
            delta = self.take(item)
            if delta is not None:
                return delta
        raise StopIteration

    def done(self) -> bool:
        return self._done or self._future.done()

    def cancel(self, now: bool = False) -> bool:
        """Cancel the request; the text so far stays. ``False`` if it had already ended."""
        if self.done():
            return False
        self._future.cancel()
        self._done = True
        return True

    close = cancel  # the iterator protocol's name for it (``contextlib.closing``, ``with``)

    def __enter__(self) -> TextStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


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
            if in_loop_thread():
                self._future = asyncio.ensure_future(_produce(*self._args, put))
            else:
                self._future = submit(
                    _produce(*self._args, lambda item: loop.call_soon_threadsafe(put, item))
                )
        while True:
            try:
                item = await self._queue.get()
            except asyncio.CancelledError:
                self.cancel()
                raise
            if item is _END:
                raise StopAsyncIteration
            delta = self.take(item)
            if delta is not None:
                return delta

    def cancel(self, now: bool = False) -> bool:
        """Cancel the request; the text so far stays. ``False`` if it never started."""
        if self._future is None:
            return False
        self._future.cancel()
        return True

    async def aclose(self) -> None:  # the async iterator protocol's name for it
        self.cancel()


def _stream_face(stream_class: type[T], name: str, doc: str) -> Callable[..., T]:
    """``stream`` and ``astream``: one signature, two iterator classes."""

    def face(args: CallArgs) -> T:
        return stream_class(args)

    face.__name__ = face.__qualname__ = name
    face.__doc__ = doc
    face.__annotations__["return"] = stream_class.__name__
    return parameters_of(_one_call)(face)


stream = _stream_face(TextStream, "stream",
                      "Stream text deltas (sync iterator); the final Response is ``.response``.")
astream = _stream_face(AsyncTextStream, "astream",
                       "``async for delta in astream(...)``; the final Response is ``.response``.")


# -- fan-out ---------------------------------------------------------------------------------
async def _amap(prompts, system, priority, use_cache, concurrency, stats, on_result, options,
                mode, ends, pack, keep_raw) -> list[Outcome]:
    default_face("map")
    call = await resolve_call(options, mode)
    work = Work(build_requests(prompts, call, system=system, priority=priority),
                call.settings, call.endpoint, use_cache=use_cache, concurrency=concurrency,
                stats=stats, on_result=on_result, metadata={"source": "llm_magics.map"},
                deadline_at=ends, pack=pack, keep_raw=keep_raw)
    job = await start(work, mode)
    return await job.aresults()


async def amap(
    prompts: Iterable[str | Messages],
    *,
    concurrency: int | None = None,
    model: str | None = None,
    system: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    stats: CallStats | None = None,
    on_result: OnResult | None = None,
    mode: str = DEFAULT_MODE,
    deadline: float | str | None = None,
    pack: int | str | None = None,
    keep_raw: bool = False,
    **options: Any,
) -> list[Outcome]:
    """Concurrent completions in input order; a failed prompt is an ``LLMError`` in its slot.

    ``mode`` picks how they run, with the same names as ``df.llm.apply``:
    ``"async"`` (default, concurrent calls here), ``"queue"`` (Celery workers,
    ``llm-magics worker``), ``"batch"`` (the Batch API at half price; waits for
    the job: use ``llm_magics.batch.submit`` for a handle instead), ``"auto"``
    (the planner picks batch or async for the deadline: see ``plan``).
    ``deadline`` (seconds, or ``"90s"``, ``"30m"``, ``"2h"``, ``"1d"``) is when
    the whole run must be done: a batch is given up on in time and its
    unanswered rows sent async; async calls end with it; queued rows still
    waiting are revoked.
    ``pack`` (a number, or ``"auto"``) sends that many prompts per request and
    splits the answer back, one per prompt: fewer requests under an rpm limit.
    A prompt the packed answer misses or garbles is re-sent alone. Async (and
    auto, which then runs async) only; text answers only.
    ``on_result(i, outcome)`` is called as each prompt finishes (async and queue
    modes), e.g. to drive a progress bar in a script. ``max_cost_usd=`` caps what
    the run may spend: prompts that could pass it are ``BudgetExceededError`` in
    their slots, unsent (a batch over the cap is not submitted at all).
    Each answer keeps its text, usage, cost and finish reason; ``keep_raw=True``
    also keeps the server's whole body (``Response.raw``: tool calls, logprobs),
    which a 100,000-prompt run would otherwise hold in memory for nothing.
    """
    prompts = builtins.list(prompts)
    ends = deadline_at(deadline)
    return await on_loop(_amap(prompts, system, priority, cache, concurrency, stats, on_result,
                               {"model": model, **options}, mode, ends, pack, keep_raw))


map = sync_twin(
    amap, name="map",
    doc="""Blocking concurrent completions in input order, errors as values.

    ``mode`` as for ``amap``: ``"async"`` (default), ``"queue"``, ``"batch"`` or ``"auto"``;
    ``deadline`` and ``pack`` as for ``amap``.

        >>> results = map([f"Define {w}" for w in words], concurrency=64, rpm=500)  # doctest: +SKIP
    """)


def plan(
    prompts: Iterable[str | Messages],
    *,
    mode: str = "auto",
    deadline: float | str | None = None,
    concurrency: int | None = None,
    model: str | None = None,
    system: str | None = None,
    cache: bool | None = None,
    max_cost_usd: float | None = None,
    pack: int | str | None = None,
    **options: Any,
) -> Plan:
    """What ``map`` with the same arguments would cost and take per mode, and which it picks.

        >>> plan([f"Define {w}" for w in words], deadline="2d")     # doctest: +SKIP

    Nothing is sent and no local model is started; rows already cached count as
    free and instant. ``max_cost_usd`` (default: the setting) is carried on the plan.
    With ``pack`` the async column is the packed run (and ``"auto"`` picks it).
    """
    call, exact = plan_call({"model": model, "concurrency": concurrency, **options})
    requests = build_requests(builtins.list(prompts), call, system=system)
    work = Work(requests, call.settings, call.endpoint, use_cache=cache,
                concurrency=concurrency, deadline_at=deadline_at(deadline), pack=pack)
    return plan_work(work, mode, exact=exact, max_cost_usd=max_cost_usd)


def status() -> dict[str, Any]:
    """Breaker state, limiter state and totals for every endpoint used in this process."""
    return get_engine().status()
