"""The run planner: what a fan-out will cost and take in each mode, and which mode to use.

Pure arithmetic, no I/O: it reads an ``Estimate`` (rows, cached rows, tokens,
cost at sync and batch price; ``core.estimate``), the known rate limits (rpm,
tpm, concurrency) and the deadline, and decides:

* nothing to send (every row cached or empty): ``async``, it is instant;
* no Batch API on the server: ``async``;
* the deadline leaves room for the batch window (24 h) *and* for sending the
  rest async if the batch is late: ``batch``, at half price (no deadline at
  all is no hurry: ``batch`` too);
* otherwise ``async``, with a warning when even the rate limits cannot finish
  before the deadline.

    >>> from llm_magics.core.estimate import Estimate
    >>> est = Estimate("gpt-4o-mini", 100, 0, 100, 0, 100, 2000, 50, 5000, 0.0033, 0.00165)
    >>> decide(est, Rates(rpm=60), deadline_s=300.0).choice
    'async'
    >>> decide(est, Rates(rpm=60), deadline_s=2 * 86_400.0).choice
    'batch'
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from .constants import BATCH_WINDOW_S, PLAN_CALL_S, PLAN_SAFETY, SWITCH_GRACE_S
from .cost import format_money
from .estimate import Estimate
from .progress import format_duration as _truncated

__all__ = ["Rates", "Plan", "decide", "async_seconds", "fallback_reserve", "MODES_PLANNED"]

MODES_PLANNED = ("async", "batch")


def format_duration(seconds: float) -> str:
    """Rounded, not truncated: a deadline of "5m" read a moment later is still 5m00s."""
    return _truncated(round(seconds))


@dataclass(frozen=True)
class Rates:
    """The limits a run is paced by: requests and tokens per minute, calls in flight."""

    rpm: int | None = None
    tpm: int | None = None
    workers: int = 32


def async_seconds(calls: int, tokens_per_call: float, rates: Rates) -> tuple[float, str]:
    """Seconds ``calls`` take sent async, and the limit that paces them."""
    per_s = {f"concurrency={rates.workers} (~{PLAN_CALL_S:g} s a call)":
             rates.workers / PLAN_CALL_S}
    if rates.rpm:
        per_s[f"rpm={rates.rpm:,}"] = rates.rpm / 60
    if rates.tpm and tokens_per_call > 0:
        per_s[f"tpm={rates.tpm:,}"] = rates.tpm / 60 / tokens_per_call
    limit = min(per_s, key=per_s.__getitem__)
    if calls <= 0:
        return 0.0, limit
    return max(calls / per_s[limit], PLAN_CALL_S), limit


def fallback_reserve(async_s: float) -> float:
    """Time to keep before a deadline for giving up on a batch and sending the rest async."""
    return async_s * PLAN_SAFETY + SWITCH_GRACE_S


@dataclass(frozen=True)
class Plan:
    """A fan-out worked out before it runs: per-mode cost and time, the choice and why.

    In a notebook it shows as a small table; ``str()`` is one paragraph.
    """

    estimate: Estimate
    time_s: dict[str, float]
    cost_usd: dict[str, float | None]
    choice: str
    reason: str
    limit: str
    deadline_s: float | None = None
    warning: str | None = None
    max_cost_usd: float | None = None

    @property
    def rows(self) -> int:
        return self.estimate.rows

    @property
    def cached(self) -> int:
        return self.estimate.cached

    @property
    def calls(self) -> int:
        return self.estimate.calls

    @property
    def tokens(self) -> int:
        return self.estimate.prompt_tokens + self.estimate.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "cached": self.cached, "calls": self.calls,
                "tokens": self.tokens, "cost_usd": dict(self.cost_usd),
                "time_s": dict(self.time_s), "deadline_s": self.deadline_s,
                "choice": self.choice, "reason": self.reason, "limit": self.limit,
                "warning": self.warning, "max_cost_usd": self.max_cost_usd}

    def _when(self, mode: str) -> str:
        seconds = self.time_s[mode]
        if mode == "batch" and self.calls:
            return f"up to {format_duration(seconds)}"
        return f"~{format_duration(seconds)}"

    def __str__(self) -> str:
        deadline = ("no deadline" if self.deadline_s is None
                    else f"deadline {format_duration(self.deadline_s)}")
        modes = "; ".join(f"{m}: {format_money(self.cost_usd[m])}, {self._when(m)}"
                          for m in MODES_PLANNED)
        text = (f"{self.rows:,} rows ({self.cached:,} cached, {self.calls:,} calls, "
                f"~{self.tokens:,} tokens), {deadline}. {modes}. "
                f"Choice: {self.choice} ({self.reason}).")
        return f"{text} Warning: {self.warning}" if self.warning else text

    def _repr_html_(self) -> str:
        esc = html.escape
        cells = "".join(
            f"<tr><td>{m}{' ✔' if m == self.choice else ''}</td>"
            f"<td>{esc(format_money(self.cost_usd[m]))}</td><td>{esc(self._when(m))}</td></tr>"
            for m in MODES_PLANNED)
        deadline = "none" if self.deadline_s is None else format_duration(self.deadline_s)
        warning = (f"<p style='color:#b45309'>⚠ {esc(self.warning)}</p>"
                   if self.warning else "")
        return (
            "<div class='llm-magics-plan'>"
            f"<p>{self.rows:,} rows · {self.cached:,} cached · {self.calls:,} calls · "
            f"~{self.tokens:,} tokens · deadline {esc(deadline)} · paced by "
            f"{esc(self.limit)}</p>"
            "<table><thead><tr><th>mode</th><th>cost</th><th>time</th></tr></thead>"
            f"<tbody>{cells}</tbody></table>"
            f"<p><b>{esc(self.choice)}</b>: {esc(self.reason)}</p>{warning}</div>")


def decide(estimate: Estimate, rates: Rates, *, deadline_s: float | None,
           has_batch_api: bool = True, mode: str = "auto",
           max_cost_usd: float | None = None) -> Plan:
    """The plan for ``estimate`` under ``rates`` and the deadline (``mode``: what was asked)."""
    calls = estimate.calls
    tokens = estimate.prompt_tokens + estimate.completion_tokens
    async_s, limit = async_seconds(calls, tokens / calls if calls else 0.0, rates)
    time_s = {"async": async_s, "batch": BATCH_WINDOW_S if calls else 0.0}
    cost = {"async": estimate.cost_usd, "batch": estimate.batch_cost_usd}
    if mode != "auto":
        choice, reason = mode, f'mode="{mode}" was asked for'
    else:
        choice, reason = _choose(calls, async_s, deadline_s, has_batch_api)
    warning = None
    if choice != "batch" and deadline_s is not None and async_s * PLAN_SAFETY > deadline_s:
        warning = (
            f"at {limit} the {calls:,} calls need about {format_duration(async_s)}, which "
            f"does not fit in the deadline of {format_duration(deadline_s)}: rows whose turn "
            "comes after it end with DeadlineExceededError. Raise rpm/tpm/concurrency if the "
            "server allows more, or give a later deadline.")
    return Plan(estimate=estimate, time_s=time_s, cost_usd=cost, choice=choice,
                reason=reason, limit=limit, deadline_s=deadline_s, warning=warning,
                max_cost_usd=max_cost_usd)


def _choose(calls: int, async_s: float, deadline_s: float | None,
            has_batch_api: bool) -> tuple[str, str]:
    if calls == 0:
        return "async", "every row is cached or sends nothing: no call to wait for"
    if not has_batch_api:
        return "async", "this server has no Batch API"
    window = format_duration(BATCH_WINDOW_S)
    if deadline_s is None:
        return "batch", f"no deadline: the Batch API answers within {window} at half price"
    needed = BATCH_WINDOW_S + fallback_reserve(async_s)
    if deadline_s >= needed:
        return "batch", (f"the deadline leaves room for the batch window ({window}) and, "
                         f"should the batch be late, for sending the rest async "
                         f"(~{format_duration(async_s)})")
    return "async", (f"the deadline ({format_duration(deadline_s)}) is shorter than the batch "
                     f"window ({window}) plus an async fallback "
                     f"(~{format_duration(fallback_reserve(async_s))})")
