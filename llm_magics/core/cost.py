"""Prices per million tokens, and what a response cost.

Prices come from ``genai-prices`` (its data ships inside the package; nothing
here starts its updater, so no price is ever fetched at run time), and a model
of a private deployment gets its price from the ``prices`` setting, which wins
over the library: ``configure(prices={"my-model": (0.2, 0.8)})`` in USD per 1M
input and output tokens. A model without a known price costs ``None`` (not 0):
an unknown price is not free. Batch API calls cost ``BATCH_DISCOUNT`` of it.

    >>> price_of("gpt-4o-mini-2024-07-18") == price_of("gpt-4o-mini")
    True
    >>> price_of("my-model", {"my-model": (0.2, 0.8)})
    (0.2, 0.8)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .types import Usage

__all__ = ["BATCH_DISCOUNT", "Prices", "price_of", "cost_usd", "format_money"]

BATCH_DISCOUNT = 0.5

Prices = Mapping[str, tuple[float, float]]
"""User prices: model name -> (input, output) USD per 1M tokens (the ``prices`` setting)."""


def _override(model: str, prices: Prices | None) -> tuple[float, float] | None:
    """A user price for ``model``, also for its dated snapshots (``my-model-2025-01-01``)."""
    if not prices:
        return None
    if model in prices:
        return _pair(prices[model])
    # Longest name that the model name starts with, so my-model-mini beats my-model.
    for name in sorted(prices, key=len, reverse=True):
        if model.startswith(name + "-"):
            return _pair(prices[name])
    return None


def _pair(price: Any) -> tuple[float, float]:
    return float(price[0]), float(price[1])


@functools.lru_cache(maxsize=256)
def _library_price(model: str) -> Any:
    """The library's ``ModelPrice`` for ``model`` now, or ``None`` if it has no token price."""
    import genai_prices  # ~0.2 s: paid by the first priced answer, not by %load_ext

    try:
        found = genai_prices.calc_price(genai_prices.Usage(input_tokens=0, output_tokens=0),
                                        model)
    except LookupError:
        return None
    model_price = found.model_price
    if getattr(model_price, "input_mtok", None) is None or \
            getattr(model_price, "output_mtok", None) is None:
        return None  # a model priced per image or per second is not priced per token
    return model_price


def _base(price: Any) -> float:
    """A per-1M-token price; tiered prices start at their base tier."""
    return float(price if isinstance(price, Decimal) else price.base)


def price_of(model: str, prices: Prices | None = None) -> tuple[float, float] | None:
    """``(input, output)`` USD per 1M tokens (a tiered price: its base tier), or ``None``."""
    user = _override(model, prices)
    if user is not None:
        return user
    model_price = _library_price(model)
    if model_price is None:
        return None
    return _base(model_price.input_mtok), _base(model_price.output_mtok)


def cost_usd(model: str, usage: Usage, *, batch: bool = False,
             prices: Prices | None = None) -> float | None:
    """What ``usage`` on ``model`` costs in USD (``None``: no known price)."""
    cost = _list_cost(model, usage, prices)
    if cost is None:
        return None
    return cost * BATCH_DISCOUNT if batch else cost


def _list_cost(model: str, usage: Usage, prices: Prices | None) -> float | None:
    user = _override(model, prices)
    if user is not None:
        return (usage.prompt_tokens * user[0] + usage.completion_tokens * user[1]) / 1e6
    model_price = _library_price(model)
    if model_price is None:
        return None
    inp, out = model_price.input_mtok, model_price.output_mtok
    if isinstance(inp, Decimal) and isinstance(out, Decimal) and \
            getattr(model_price, "requests_kcount", None) is None:
        # The common case, kept to two multiplications: a 50,000-line batch prices every line.
        return (usage.prompt_tokens * float(inp) + usage.completion_tokens * float(out)) / 1e6
    from genai_prices import Usage as PricedUsage

    calc = model_price.calc_price(PricedUsage(input_tokens=usage.prompt_tokens,
                                              output_tokens=usage.completion_tokens))
    return float(calc["total_price"])


def format_money(value: float | None) -> str:
    """``$1.2346``, ``$0.000027``; ``$?`` for an unknown price (an unknown price is not free)."""
    if value is None:
        return "$?"
    return f"${value:,.4f}" if abs(value) >= 0.01 or value == 0 else f"${value:.6f}"
