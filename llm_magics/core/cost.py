"""Prices per million tokens, and what a response cost.

Models without a known price cost ``None`` (not 0): an unknown price is not free.
Batch API calls cost half (``BATCH_DISCOUNT``).
"""

from __future__ import annotations

import functools

from .types import Usage

__all__ = ["PRICES_PER_MTOK", "BATCH_DISCOUNT", "price_of", "cost_usd"]

# (input, output) USD per 1M tokens, public list prices.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o4-mini": (1.10, 4.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}

BATCH_DISCOUNT = 0.5


@functools.lru_cache(maxsize=256)
def price_of(model: str) -> tuple[float, float] | None:
    """Price of a model, also for dated snapshots such as ``gpt-4o-mini-2024-07-18``."""
    if model in PRICES_PER_MTOK:
        return PRICES_PER_MTOK[model]
    # Longest known name that the model name starts with, so gpt-4o-mini beats gpt-4o.
    for name in sorted(PRICES_PER_MTOK, key=len, reverse=True):
        if model.startswith(name + "-"):
            return PRICES_PER_MTOK[name]
    return None


def cost_usd(model: str, usage: Usage, *, batch: bool = False) -> float | None:
    price = price_of(model)
    if price is None:
        return None
    cost = (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1e6
    return cost * BATCH_DISCOUNT if batch else cost
