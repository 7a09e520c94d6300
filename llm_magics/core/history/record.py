"""Turning one call's outcome into a call-log row (and a trace span when tracing is on).

The pipeline calls these at the points every mode passes (``Engine.complete``,
``Engine.stream``, ``RequestSet`` for answers that came from the cache or from
elsewhere, the batch runner when a batch's output arrives), so each face and
mode is recorded once, in one place. ``recorder_for(settings)`` is ``None`` when
``history=False``; a recorder never raises into the call it records.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from urllib.parse import urlsplit

from ...errors import BudgetExceededError, CancelledError
from ..settings import Settings
from ..types import Request, Response
from . import tracing
from .context import current
from .log import CallLog, get_call_log

__all__ = ["Recorder", "recorder_for", "record"]

log = logging.getLogger("llm_magics.history")

_NEVER_SENT = (CancelledError, BudgetExceededError)


@functools.lru_cache(maxsize=64)
def host_of(base_url: str) -> str:
    """``https://api.example.com:443/v1`` -> ``api.example.com:443``: no path, no credentials."""
    return urlsplit(base_url).netloc.rpartition("@")[2]


class Recorder:
    """Writes the rows of calls made with one ``Settings``; one per call (or per run).

    ``retries`` counts the retries of the call being made (the engine adds to it),
    ``elapsed()`` the time since the recorder was made, for a call that failed.
    """

    __slots__ = ("log", "text", "trace_text", "mode", "retries", "started", "done")

    def __init__(self, call_log: CallLog | None, text: bool, trace_text: bool,
                 mode: str) -> None:
        self.log, self.text, self.trace_text, self.mode = call_log, text, trace_text, mode
        self.retries = 0
        self.started = time.perf_counter()
        self.done = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def answer(self, request: Request, response: Response, *,
               job_id: str | None = None) -> None:
        self._add(request, "ok", None, response.usage.prompt_tokens,
                  response.usage.completion_tokens, response.cost_usd,
                  None if response.cached else response.latency_s,
                  None if response.cached else response.ttft_s, self.retries, response.cached,
                  response.finish_reason, job_id, response.text)

    def failure(self, request: Request, err: BaseException, *,
                latency_s: float | None = None, job_id: str | None = None) -> None:
        self._add(request, "error", type(err).__name__, None, None, None,
                  self.elapsed() if latency_s is None else latency_s, None, self.retries,
                  False, None, job_id, None)

    def stopped(self, request: Request) -> None:
        """The caller stopped a call already sent (an interrupt, a closed stream), unless its
        outcome is on record already."""
        if not self.done:
            self._add(request, "cancelled", "CancelledError", None, None, None, self.elapsed(),
                      None, self.retries, False, None, None, None)

    def _add(self, request: Request, status: str, error_kind: str | None,
             prompt_tokens: int | None, completion_tokens: int | None, cost: float | None,
             latency_s: float | None, ttft_s: float | None, retries: int, cached: bool,
             finish_reason: str | None, job_id: str | None, answer: str | None) -> None:
        self.done = True
        try:
            ctx = current()
            messages = (json.dumps(request.messages, ensure_ascii=False)
                        if self.text and request.messages else None)
            row = (time.time(), ctx.face or "library", ctx.mode or self.mode, request.model,
                   host_of(request.base_url), status, error_kind, prompt_tokens,
                   completion_tokens, cost, latency_s, ttft_s, retries, int(cached),
                   finish_reason, ctx.cell, job_id or ctx.job_id, ctx.client, messages,
                   answer if self.text else None)
            if self.log is not None:
                self.log.add(row)
            tracing.emit(row, request, answer if self.trace_text else None,
                         text=self.trace_text)
        except Exception:  # noqa: BLE001 - the log never fails a call
            log.warning("A call could not be recorded in the call log.", exc_info=True)


def recorder_for(settings: Settings, mode: str) -> Recorder | None:
    """The recorder for calls made with ``settings``; ``None`` if nothing records them.

    ``mode`` is what the calls are when no fan-out says otherwise (``sync``, ``stream``).
    """
    if settings.history:
        call_log = get_call_log(settings.history_path)
        call_log.retain(settings.history_max_age_days, settings.history_max_rows)
        return Recorder(call_log, settings.history_text, settings.trace_text, mode)
    return Recorder(None, False, settings.trace_text, mode) if tracing.active() else None


def record(recorder: Recorder | None, request: Request,
           outcome: Response | BaseException) -> None:
    """One row for ``outcome`` (an answer, the error it ended with, or the interrupt that
    stopped it in flight); nothing without a recorder, and nothing for a request that was
    never sent (stopped before it went out, or refused by ``max_cost_usd``)."""
    if recorder is None or isinstance(outcome, _NEVER_SENT):
        return
    if isinstance(outcome, Response):
        recorder.answer(request, outcome)
    elif isinstance(outcome, (asyncio.CancelledError, GeneratorExit)):
        recorder.stopped(request)
    else:
        recorder.failure(request, outcome)
