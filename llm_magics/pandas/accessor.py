"""``df.llm`` and ``series.llm``: a thin face over the core's fan-out.

pandas builds a new accessor object on every attribute access, so these hold
nothing but the object they wrap; what must outlive a call (``last_errors``)
lives in ``results``. Registration is idempotent and is done by
``llm_magics.pandas.register()``: on ``%load_ext llm_magics``, or on
``import llm_magics`` through ``llm_magics.pandas_hook`` as soon as pandas is
imported (before or after).
"""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd

from ..core.backends import Work
from ..core.backends.auto import plan_work
from ..core.batch import BatchJob
from ..core.deadline import deadline_at
from ..core.engine import get_engine
from ..core.estimate import Estimate, estimate_requests
from ..core.jobs import FanoutJob
from ..core.pipeline import DEFAULT_MODE
from ..core.planner import Plan
from .plan import build_estimate_requests, build_plan, run
from .results import errors_series
from .templates import Template

__all__ = ["LLMDataFrameAccessor", "LLMSeriesAccessor", "register", "ACCESSOR_NAME"]

ACCESSOR_NAME = "llm"


class _LLMAccessor:
    _obj: pd.DataFrame | pd.Series

    def __init__(self, obj: pd.DataFrame | pd.Series) -> None:
        self._obj = obj

    def apply(
        self,
        template: Template,
        *,
        model: str | None = None,
        system: str | None = None,
        concurrency: int | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        schema: Any = None,
        mode: str = DEFAULT_MODE,
        cache: bool | None = None,
        errors: str = "coerce",
        progress: bool = True,
        background: bool = False,
        deadline: float | str | None = None,
        pack: int | str | None = None,
        **params: Any,
    ) -> pd.Series | pd.DataFrame | FanoutJob | BatchJob:
        """One LLM call per row, run concurrently; the answers aligned to this object's index.

            >>> df["summary"] = df.llm.apply("Summarise {title}: {body}", concurrency=32)
            >>> df[["label", "score"]] = df.llm.apply("Classify {review}", schema=Sentiment)
            >>> job = df.llm.apply("Translate {text}", background=True)   # returns at once

        ``template`` is a format string over column names, or a function of the
        row (a dict of column -> value; for a Series, the value) returning a
        prompt or a messages list. A row with a missing value in a column the
        template uses is NA in the result and sends nothing; identical prompts
        are sent once.

        Returns a Series of text, or with ``schema=`` (a pydantic model class or
        a JSON Schema dict) a DataFrame with one typed column per field, each
        answer checked against the schema. ``errors="coerce"`` (default) leaves
        NA in failed rows and lists them in ``result.attrs["llm_errors"]`` and
        ``.llm.last_errors``; ``errors="raise"`` raises after the run, with every
        answer that arrived already cached. ``cache=None`` follows the settings
        (on by default): a re-run, or a run after an interrupt, only sends what
        is not cached yet. ``background=True`` returns a ``FanoutJob`` at once
        (``status()``, ``cancel()``, ``wait()``, ``results()``).
        ``mode="async"`` (default) runs concurrent calls in this kernel;
        ``mode="batch"`` submits an OpenAI Batch API job and returns its handle
        (``job.wait().results()`` is the same Series, at half price);
        ``mode="queue"`` runs the calls on Celery workers (``llm-magics worker``);
        ``mode="auto"`` lets the planner pick batch or async (``plan()`` shows
        what it would pick and why; a handle comes back when it picks batch).
        ``deadline`` (seconds, or ``"90s"``, ``"30m"``, ``"2h"``, ``"1d"``) is when
        the whole apply must be done: a batch that would miss it is cancelled,
        its answers kept and the other rows sent async; async and queued rows
        still waiting then end as ``DeadlineExceededError``.
        ``pack`` (a number, or ``"auto"``) sends that many rows per request and
        splits the answer back per row: fewer requests under an rpm limit. A row
        the packed answer misses or garbles is re-sent alone. Async (and auto,
        which then runs async) only; text answers only (not with ``schema=``).
        ``max_cost_usd=`` caps what the apply may spend, in every mode: rows that
        could pass it are not sent and fail with ``BudgetExceededError`` (NA with
        ``errors="coerce"``); a re-run with a higher cap sends only them.
        Other keyword arguments are settings (``base_url``, ``timeout``,
        ``max_retries``...) or request fields (``temperature``, ``max_tokens``...).
        """
        options = {"model": model, "concurrency": concurrency, "rpm": rpm, "tpm": tpm, **params}
        ends = deadline_at(deadline)
        plan = build_plan(self._obj, template, system=system, schema=schema, mode=mode,
                          cache=cache, errors_policy=errors, options=options, deadline_at=ends,
                          pack=pack)
        return run(plan, progress=progress, background=background)

    def estimate(
        self,
        template: Template,
        *,
        model: str | None = None,
        system: str | None = None,
        schema: Any = None,
        completion_tokens: int | None = None,
        cache: bool | None = None,
        pack: int | str | None = None,
        **params: Any,
    ) -> Estimate:
        """What ``apply`` with the same arguments would send and cost, without sending anything.

            >>> print(df.llm.estimate("Summarise {body}", model="gpt-4o-mini"))

        ``completion_tokens`` is the assumed answer length (default: ``max_tokens``
        if given, else 256). Rows whose answer is already cached cost nothing.
        With ``pack`` the calls and tokens are those of the packed requests.
        """
        options = {"model": model, **params}
        requests, call, exact = build_estimate_requests(
            self._obj, template, system=system, schema=schema, options=options)
        store = get_engine().cache_for(call.settings, cache) if exact else None
        return estimate_requests(requests, model=call.endpoint.model, cache=store,
                                 completion_tokens=completion_tokens, pack=pack,
                                 prices=call.settings.prices)

    def plan(
        self,
        template: Template,
        *,
        mode: str = "auto",
        deadline: float | str | None = None,
        model: str | None = None,
        system: str | None = None,
        schema: Any = None,
        concurrency: int | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        cache: bool | None = None,
        max_cost_usd: float | None = None,
        pack: int | str | None = None,
        **params: Any,
    ) -> Plan:
        """What ``apply`` would cost and take per mode, and the mode ``"auto"`` picks, unsent.

            >>> df.llm.plan("Summarise {body}", deadline="2d", model="gpt-4o-mini")

        Rows already cached count as free and instant; time is worked out at the
        known limits (``rpm``, ``tpm``, ``concurrency``). In a notebook the plan
        shows as a small table. ``max_cost_usd`` (default: the setting) is carried on the plan.
        """
        ends = deadline_at(deadline)
        options = {"model": model, "concurrency": concurrency, "rpm": rpm, "tpm": tpm, **params}
        requests, call, exact = build_estimate_requests(
            self._obj, template, system=system, schema=schema, options=options)
        work = Work(requests, call.settings, call.endpoint, use_cache=cache,
                    concurrency=concurrency, deadline_at=ends, pack=pack)
        return plan_work(work, mode, exact=exact, max_cost_usd=max_cost_usd)

    @property
    def last_errors(self) -> pd.Series:
        """Failed rows of the last ``apply`` on this object: ``LLMError`` values by row label.

        Kept outside the accessor (pandas makes a new one on every access) and
        forgotten with the object. For a result of an expression, use
        ``result.attrs["llm_errors"]``.
        """
        return errors_series(self._obj)


class LLMDataFrameAccessor(_LLMAccessor):
    """``df.llm``: ``apply`` a prompt template to every row; ``estimate`` or ``plan`` it first."""

    _obj: pd.DataFrame


class LLMSeriesAccessor(_LLMAccessor):
    """``s.llm``: ``s.llm.apply("Translate to French: {}")``, one call per value."""

    _obj: pd.Series


_lock = threading.Lock()


def register() -> None:
    """Install ``df.llm`` and ``series.llm`` (idempotent; safe from any import order)."""
    with _lock:
        if getattr(pd.DataFrame, ACCESSOR_NAME, None) is not LLMDataFrameAccessor:
            pd.api.extensions.register_dataframe_accessor(ACCESSOR_NAME)(LLMDataFrameAccessor)
        if getattr(pd.Series, ACCESSOR_NAME, None) is not LLMSeriesAccessor:
            pd.api.extensions.register_series_accessor(ACCESSOR_NAME)(LLMSeriesAccessor)
