"""``max_cost_usd``: one spending cap shared by every call of a run, whatever the mode.

Before a call is sent it reserves its worst case: the prompt's token bound
(``tokens.prompt_tokens_bound``) plus ``max_tokens`` for each of its ``n``
choices, at the model's price. Under a cap a request that sets no
``max_tokens`` is sent with ``max_completion_tokens=BUDGET_COMPLETION_BOUND``
(``bounded_for_budget``), so the reservation is a bound the server keeps,
not a guess.
When the call ends, the reservation becomes what the answer really cost. A call
goes out only if what was spent, plus every reservation in flight, plus its own
worst case fits the cap, so the run never spends more than the cap. A call that
does not fit waits while others are in flight (their answers usually cost less
than reserved); once nothing is in flight and it still does not fit, its row
ends as ``BudgetExceededError`` and nothing is paid for it. A re-run with a
higher cap sends only those rows: the cache holds the rest.

A cap on a model without a known price is refused up front: a guess could
overspend. Backends share one ``Budget`` per run (``FanoutBackend`` makes it).

    >>> from llm_magics.core.types import Request
    >>> req = Request([{"role": "user", "content": "hi"}], "gpt-4o-mini", "u", {"max_tokens": 10})
    >>> budget = Budget(1.0)
    >>> amount = budget.try_reserve(req)
    >>> budget.in_flight, budget.spent_usd
    (1, 0.0)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from .. import errors
from .constants import BUDGET_COMPLETION_BOUND
from .cost import Prices, cost_usd, format_money
from .settings import Settings
from .tokens import prompt_tokens_bound
from .types import MAX_TOKEN_FIELDS, Request, Response, Usage

__all__ = ["Budget", "worst_case_usd", "bounded_for_budget", "check_priced", "check_call",
           "check_batch"]


def bounded_for_budget(params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``params`` with a completion bound under a cap: without one, an answer could run to
    the model's limit and past the cap. The call keeps a bound the caller gave."""
    if settings.max_cost_usd is None or any(params.get(f) for f in MAX_TOKEN_FIELDS):
        return params
    return {**params, "max_completion_tokens": BUDGET_COMPLETION_BOUND}


def worst_case_usd(request: Request, *, prices: Prices | None = None,
                   batch: bool = False) -> float | None:
    """The most ``request`` can cost; ``None`` if its model has no known price."""
    usage = Usage(prompt_tokens_bound(request.messages),
                  (request.max_tokens or BUDGET_COMPLETION_BOUND) * request.choices)
    return cost_usd(request.model, usage, batch=batch, prices=prices)


def check_priced(models: Iterable[str], prices: Prices | None) -> None:
    """Refuse a cap when a model to be sent has no known price (a guess could overspend)."""
    for model in sorted(set(models)):
        if cost_usd(model, Usage(1, 1), prices=prices) is None:
            raise errors.ConfigurationError(
                f"max_cost_usd is set, but no price is known for model {model!r}, so the cap "
                f"cannot be kept. Give its price: llm_magics.configure(prices={{{model!r}: "
                "(input_usd_per_1m_tokens, output_usd_per_1m_tokens)}), or drop max_cost_usd."
            )


def check_call(request: Request, settings: Settings) -> None:
    """One call on its own (``complete()``, ``%%llm``): refused unless its worst case fits."""
    budget = Budget.for_run(settings, [request])
    if budget is not None and budget.try_reserve(request) is None:
        raise budget.refusal(request)


def check_batch(settings: Settings, requests: Iterable[Any], cached: set[str]) -> None:
    """A Batch API job is sent whole: refuse it before submitting if it could pass the cap."""
    if settings.max_cost_usd is None:
        return
    to_send = {r.cache_key(): r for r in requests if isinstance(r, Request)}
    for key in cached:
        to_send.pop(key, None)
    check_priced((r.model for r in to_send.values()), settings.prices)
    worst = sum(worst_case_usd(r, prices=settings.prices, batch=True) or 0.0
                for r in to_send.values())
    if worst > settings.max_cost_usd:
        raise errors.BudgetExceededError(
            f"Not submitted: this batch's {len(to_send):,} requests could cost up to "
            f"{format_money(worst)} at batch prices, over "
            f"max_cost_usd={format_money(settings.max_cost_usd)}. "
            "Raise max_cost_usd, send fewer rows, or set a lower max_tokens (without it, each "
            f"answer is bounded at {BUDGET_COMPLETION_BOUND} tokens).")


class Budget:
    """Spent and reserved USD of one run, against its cap; safe to use from any thread."""

    def __init__(self, cap_usd: float, *, prices: Prices | None = None) -> None:
        self.cap_usd = cap_usd
        self.prices = prices
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.in_flight = 0
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @classmethod
    def for_run(cls, settings: Settings, requests: Iterable[Any]) -> Budget | None:
        """The run's budget (``None`` without a cap); raises if a model has no known price."""
        if settings.max_cost_usd is None:
            return None
        check_priced((r.model for r in requests if isinstance(r, Request)), settings.prices)
        return cls(settings.max_cost_usd, prices=settings.prices)

    def worst_case(self, request: Request) -> float:
        worst = worst_case_usd(request, prices=self.prices)
        return 0.0 if worst is None else worst  # for_run refused unpriced models already

    def try_reserve(self, request: Request) -> float | None:
        """Reserve ``request``'s worst case and return it, or ``None`` if it does not fit."""
        worst = self.worst_case(request)
        with self._lock:
            if self.spent_usd + self.reserved_usd + worst > self.cap_usd:
                return None
            self.reserved_usd += worst
            self.in_flight += 1
            return worst

    async def reserve(self, request: Request) -> float | None:
        """``try_reserve``, waiting while calls in flight may still free room; ``None``: never."""
        while True:
            with self._lock:
                busy = self.in_flight > 0
                event = asyncio.Event()
                self._waiters.append((asyncio.get_running_loop(), event))
            reserved = self.try_reserve(request)
            if reserved is not None or not busy:
                self._forget(event)
                return reserved
            await event.wait()

    def settle(self, reserved: float, request: Request, outcome: Any) -> None:
        """A reserved call ended: its reservation becomes what its answer really cost."""
        spent = 0.0
        if isinstance(outcome, Response) and not outcome.cached:
            # Priced here, with this run's prices: a queue worker may not know them.
            spent = cost_usd(request.model, outcome.usage, prices=self.prices) or 0.0
        with self._lock:
            self.reserved_usd = max(self.reserved_usd - reserved, 0.0)
            self.in_flight -= 1
            self.spent_usd += spent
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def refusal(self, request: Request) -> errors.BudgetExceededError:
        """The value in the row of a call that was not sent."""
        with self._lock:
            spent = self.spent_usd
        return errors.BudgetExceededError(
            f"Not sent: this call could cost up to {format_money(self.worst_case(request))}, "
            f"and {format_money(spent)} of the max_cost_usd={format_money(self.cap_usd)} cap is "
            "spent. Raise max_cost_usd and run again: only what was not sent goes out (every "
            "answer that arrived is cached).")

    def _forget(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters = [w for w in self._waiters if w[1] is not event]
