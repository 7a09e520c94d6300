"""One ``%%llm_stream`` call, running on the core's background loop, stoppable from anywhere.

Why the cell does not block (widget mode): a Jupyter kernel handles widget
clicks as comm messages on its *shell* channel, one message at a time, so a
cell that waits for a stream also makes the Stop click wait until the stream
has ended. ``jupyter_ui_poll`` used to work around that by pumping the kernel
from inside the cell, but it relies on ``Kernel.do_one_iteration``, which
ipykernel 7 removed (it then silently does nothing). So the magic starts a
:class:`StreamRun` on the core loop thread (``core.loop_thread.submit``) and returns at
once: the kernel goes idle, the Stop click arrives, and the widget keeps
growing because ipywidgets sends trait changes from the core loop thread over
IOPub. The magics then wait for unfinished runs in a ``pre_run_cell`` hook,
so "Run All" still hands the finished text to the next cell.

Two limits follow from the protocol, both verified against a real kernel
(``tests/jupyter/test_kernel_protocol.py``): while a *later* cell waits for the
stream, the shell channel is busy again, so Stop clicks queue behind it; the
kernel interrupt still works there (it stops the stream, keeps the text and
skips that cell). And a headless runner (nbclient, nbconvert) that ends with a
stream cell shuts the kernel down mid-stream: set ``LLM_MAGICS_NO_WIDGETS=1``
(or ``--no-widget``) to stream plain text in a blocking cell instead.

The run keeps every delta, so a Stop, an interrupt or a dropped connection
leaves the partial text available (:meth:`StreamRun.outcome`).

    >>> run = StreamRun([{"role": "user", "content": "Say hi"}], {}).start()  # doctest: +SKIP
    >>> run.wait().outcome().text                                         # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core import loop_thread
from ..core.engine import get_engine
from ..core.history.context import tag
from ..core.pipeline import prepare, resolve_call
from ..core.tokens import estimate_prompt_tokens
from ..core.types import Response, Usage
from ..errors import LLMError

__all__ = ["StreamRun", "Throttle", "LiveStats", "format_footer", "STATUSES",
           "UPDATE_INTERVAL_S", "STOP_GRACE_S"]

STATUSES = ("waiting", "streaming", "done", "stopped", "interrupted", "error")

UPDATE_INTERVAL_S = 0.05
"""Shortest gap between two display updates: 20 a second looks live and cannot flood
the front end, however fast the model is."""

STOP_GRACE_S = 5.0
"""How long a stop waits for the request to close before giving up on it."""


@dataclass(frozen=True)
class LiveStats:
    """The numbers in the footer, measured by the run (final ones come from the Response)."""

    status: str = "waiting"
    ttft_s: float | None = None
    tokens: int = 0
    elapsed_s: float = 0.0
    """Seconds since the first token (the tokens/s denominator)."""
    cost_usd: float | None = None
    cached: bool = False
    message: str = ""
    """Why it ended, for ``error`` and ``stopped``."""

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens / self.elapsed_s if self.elapsed_s > 0 and self.tokens > 1 else None


def format_footer(stats: LiveStats) -> str:
    """``TTFT 0.21 s · 41.8 tok/s · 128 tokens · $0.0004 · done`` (plain text)."""
    parts = []
    if stats.ttft_s is not None:
        parts.append(f"TTFT {stats.ttft_s:.2f} s")
    if stats.tokens_per_s is not None:
        parts.append(f"{stats.tokens_per_s:.1f} tok/s")
    parts.append(f"{stats.tokens} tokens")
    if stats.cost_usd is not None:
        cost = stats.cost_usd
        parts.append(f"${cost:.4f}" if cost >= 1e-4 or cost == 0 else "<$0.0001")
    if stats.cached:
        parts.append("cached")
    parts.append(stats.status + (f": {stats.message}" if stats.message else ""))
    return " · ".join(parts)


@dataclass(eq=False)
class Throttle:
    """Call ``fn`` at most once per ``interval``; the last poke is never lost.

    Runs on one event loop: ``call_later`` schedules the trailing call, so a
    burst of pokes costs one update now and one at the end of the interval.
    """

    fn: Callable[[], None]
    interval: float
    call_later: Callable[[float, Callable[[], None]], Any]
    clock: Callable[[], float] = time.monotonic
    _last: float = field(default=float("-inf"), init=False)
    _timer: Any = field(default=None, init=False)

    def poke(self) -> None:
        if self._timer is not None:
            return  # an update is already due; it will show the latest state
        wait = self._last + self.interval - self.clock()
        if wait <= 0:
            self._fire()
        else:
            self._timer = self.call_later(wait, self._fire)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        self._last = self.clock()
        self.fn()


class StreamRun:
    """A stream on the core loop thread: text so far, live numbers, final Response or error.

    ``on_update(run)`` is called from the core loop thread, throttled to
    ``interval``, and once more when the run ends (``run.finished`` is then True).
    """

    def __init__(
        self,
        messages: list[dict[str, Any]],
        options: dict[str, Any],
        *,
        use_cache: bool | None = None,
        on_update: Callable[[StreamRun], None] | None = None,
        interval: float = UPDATE_INTERVAL_S,
    ) -> None:
        self.messages = messages
        self.options = options
        self.use_cache = use_cache
        self.on_update = on_update
        self.interval = interval
        self.parts: list[str] = []
        self.response: Response | None = None
        self.error: BaseException | None = None
        self.status = "waiting"
        self.model: str = options.get("model") or ""
        self.started_at = 0.0
        self.first_token_at: float | None = None
        self.ended_at: float | None = None
        self.updates = 0
        self._finished = threading.Event()
        self._stop_reason: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._future: Any = None

    def __repr__(self) -> str:
        return f"StreamRun(status={self.status!r}, chars={len(self.text)})"

    # -- state, readable from any thread ------------------------------------------------------
    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def live_stats(self) -> LiveStats:
        now = self.ended_at or time.perf_counter()
        if self.response is not None:
            r = self.response
            elapsed = (r.latency_s - (r.ttft_s or 0.0)) if r.ttft_s is not None else 0.0
            return LiveStats(self.status, r.ttft_s, r.usage.completion_tokens, elapsed,
                             r.cost_usd, r.cached)
        ttft = self.first_token_at - self.started_at if self.first_token_at else None
        elapsed = now - self.first_token_at if self.first_token_at else 0.0
        message = _one_line(self.error) if self.error else ""
        return LiveStats(self.status, ttft, len(self.parts), elapsed, message=message)

    def outcome(self) -> Response | None:
        """The Response, or one holding the partial text after a stop or a broken stream."""
        if self.response is not None:
            return self.response
        if not self.parts and self.status not in ("stopped", "interrupted"):
            return None
        ended = self.ended_at or time.perf_counter()
        return Response(
            text=self.text,
            model=self.model,
            usage=Usage(estimate_prompt_tokens(self.messages), len(self.parts)),
            latency_s=ended - self.started_at,
            ttft_s=self.first_token_at - self.started_at if self.first_token_at else None,
            finish_reason=self.status,
        )

    # -- control ------------------------------------------------------------------------------
    def start(self) -> StreamRun:
        self.started_at = time.perf_counter()
        self._future = loop_thread.submit(self._run())
        return self

    def done(self) -> bool:
        return self.finished

    def cancel(self, now: bool = False, reason: str = "stopped") -> bool:
        """Cancel the request (thread-safe); the text so far is kept. ``False`` if done.

        ``now=True`` also waits (up to ``STOP_GRACE_S``) for the request to close
        and the final update to go out, as the magics do on an interrupt.
        """
        if self.finished or self._future is None:
            return False
        self._stop_reason = self._stop_reason or reason
        loop_thread.get_loop().call_soon_threadsafe(self._cancel_on_loop)
        if now:
            self._finished.wait(STOP_GRACE_S)
        return True

    def wait(self, timeout: float | None = None) -> StreamRun:
        """Block until the run ends or ``timeout`` passes; ``done()`` tells which.

        Waits in short slices so Ctrl-C reaches the caller, who decides what
        an interrupt means (the magics stop the run and keep its text).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished.wait(0.05):
            if deadline is not None and time.monotonic() >= deadline:
                break
        return self

    def _cancel_on_loop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    # -- the coroutine on the core loop thread -----------------------------------------------------
    async def _run(self) -> None:
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        throttle = Throttle(self._publish, self.interval, loop.call_later)
        try:
            if self._stop_reason:  # stopped before the loop got to it
                raise asyncio.CancelledError
            tag(face="magic")  # this task is the %%llm_stream cell's own
            call = await resolve_call(self.options)
            self.model = call.endpoint.model
            request = prepare(self.messages, call, priority="interactive")
            stream = get_engine().stream(request, call.endpoint, call.settings,
                                         use_cache=self.use_cache)
            async for item in stream:
                if isinstance(item, Response):
                    self.response = item
                    continue
                if self.first_token_at is None:
                    self.first_token_at = time.perf_counter()
                    self.status = "streaming"
                self.parts.append(item)
                throttle.poke()
            self.status = "done"
        except asyncio.CancelledError:
            self.status = self._stop_reason or "stopped"
            raise
        except LLMError as err:
            self.error, self.status = err, "error"
        except Exception as err:  # noqa: BLE001 - shown in the widget, never lost in a thread
            self.error = LLMError(f"Unexpected {type(err).__name__} while streaming: {err}")
            self.status = "error"
        finally:
            throttle.cancel()
            self.ended_at = time.perf_counter()
            try:
                self._publish()
            finally:
                self._finished.set()

    def _publish(self) -> None:
        if self.on_update is None:
            return
        self.updates += 1
        try:
            self.on_update(self)
        except Exception:  # noqa: BLE001 - a display glitch must not kill the stream
            import logging

            logging.getLogger(__name__).exception("stream display update failed")


def _one_line(err: BaseException) -> str:
    message = getattr(err, "message", None) or str(err)
    return f"{type(err).__name__}: {message}".splitlines()[0]
