"""One background event-loop thread that every sync entry point submits to.

A Jupyter cell already runs inside an event loop, so ``asyncio.run()`` fails
there, and patching the running loop (nest-asyncio) is unmaintained. Instead the
async path is written once and the sync face waits on a future from this loop,
the way fsspec does it. The wait is interruptible: Ctrl-C / kernel interrupt
cancels the coroutine and re-raises ``KeyboardInterrupt`` in the caller.

    >>> from llm_magics.core.loop_thread import run_sync
    >>> async def two(): return 2
    >>> run_sync(two())
    2
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = [
    "get_loop", "run_sync", "submit", "in_loop_thread", "on_shutdown", "on_loop", "sync_twin",
]

T = TypeVar("T")
P = ParamSpec("P")

_WAIT_SLICE_S = 0.1

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    """The shared background loop, started on first use (and again after a fork)."""
    global _loop, _thread
    if _loop is not None and _thread is not None and _thread.is_alive():
        return _loop
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="llm-magics-loop", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
    return _loop


def in_loop_thread() -> bool:
    return _thread is not None and threading.current_thread() is _thread


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule a coroutine on the background loop and return at once."""
    return asyncio.run_coroutine_threadsafe(coro, get_loop())


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the background loop and wait for it, from any thread.

    Works in a plain script and inside a running loop (a notebook cell) alike.
    """
    if in_loop_thread():
        coro.close()
        raise RuntimeError(
            "run_sync() was called from the llm-magics event loop itself; "
            "await the async variant (acomplete, amap, astream) instead."
        )
    future = submit(coro)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:  # short slices: a blocking wait is not interruptible on every platform
            slice_s = _WAIT_SLICE_S if deadline is None else min(
                _WAIT_SLICE_S, max(0.0, deadline - time.monotonic()))
            try:
                return future.result(slice_s)
            except concurrent.futures.TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
    except (KeyboardInterrupt, concurrent.futures.TimeoutError):
        future.cancel()
        # Let the task see its cancellation (close connections) before returning.
        try:
            future.exception(timeout=5)
        except BaseException:  # noqa: BLE001 - cancelled/timeout are both fine here
            pass
        raise


async def on_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the background loop from any loop; cancellation goes through.

    Clients, limiters and locks live on that loop, so every async entry point
    runs its body there, whichever loop the caller awaits from.
    """
    if in_loop_thread():
        return await coro
    return await asyncio.wrap_future(submit(coro))


def sync_twin(async_fn: Callable[P, Coroutine[Any, Any, T]], *, name: str | None = None,
              doc: str | None = None) -> Callable[P, T]:
    """The blocking twin of an async entry point: same parameters, waits on the loop.

    Written once here instead of a hand-copied sync body per function, the way
    fsspec's ``sync_wrapper`` does it; works on plain functions and methods.

        >>> async def aanswer(x: int) -> int: return x + 1
        >>> sync_twin(aanswer, name="answer")(41)
        42
    """

    @functools.wraps(async_fn)
    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(async_fn(*args, **kwargs))

    twin.__name__ = twin.__qualname__ = name or async_fn.__name__.removeprefix("a")
    if doc is not None:
        twin.__doc__ = doc
    return twin


_shutdown_hooks: list[Callable[[], Coroutine[Any, Any, None]]] = []


def on_shutdown(hook: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``await hook()`` on the loop at interpreter exit (close connection pools)."""
    _shutdown_hooks.append(hook)


async def _run_hooks() -> None:
    for hook in _shutdown_hooks:
        try:
            await hook()
        except Exception:  # noqa: BLE001 - exiting anyway; one failing hook must not stop others
            pass


def _shutdown() -> None:
    loop = _loop
    if loop is None or not loop.is_running():
        return
    try:
        asyncio.run_coroutine_threadsafe(_run_hooks(), loop).result(timeout=2)
    except Exception:  # noqa: BLE001 - best effort at exit
        pass
    loop.call_soon_threadsafe(loop.stop)


atexit.register(_shutdown)
