"""Prices: the genai-prices table, the user's override, and nothing fetched at run time."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import genai_prices
import pytest

import llm_magics
from llm_magics import errors
from llm_magics.core.cost import cost_usd, price_of
from llm_magics.core.settings import resolve
from llm_magics.core.types import Usage


def test_prices_are_the_librarys_own():
    calc = genai_prices.calc_price(genai_prices.Usage(input_tokens=1_000_000,
                                                      output_tokens=1_000_000), "gpt-4o-mini")
    assert price_of("gpt-4o-mini") == (float(calc.input_price), float(calc.output_price))
    assert cost_usd("gpt-4o-mini", Usage(1_000_000, 1_000_000)) == pytest.approx(
        float(calc.total_price))


def test_a_tiered_price_is_charged_at_the_tier_the_usage_reaches():
    model = "gemini-2.5-pro"
    found = genai_prices.calc_price(genai_prices.Usage(input_tokens=0, output_tokens=0), model)
    tiered = found.model_price.input_mtok
    if isinstance(tiered, Decimal):
        pytest.skip(f"this genai-prices release prices {model} without tiers")
    big = Usage(tiered.tiers[0].start + 1, 0)
    expected = genai_prices.calc_price(genai_prices.Usage(input_tokens=big.prompt_tokens,
                                                          output_tokens=0), model)
    assert cost_usd(model, big) == pytest.approx(float(expected.total_price))
    assert price_of(model)[0] == float(tiered.base)


def test_the_users_price_wins_and_covers_dated_snapshots():
    mine = {"gpt-4o-mini": (1.0, 2.0), "private-llm": (0.5, 1.5)}
    assert price_of("gpt-4o-mini", mine) == (1.0, 2.0)
    assert price_of("private-llm-2025-06-01", mine) == (0.5, 1.5)
    assert cost_usd("private-llm", Usage(2_000_000, 1_000_000), prices=mine) == pytest.approx(2.5)
    assert cost_usd("private-llm", Usage(2_000_000, 1_000_000), batch=True,
                    prices=mine) == pytest.approx(1.25)
    assert price_of("private-llm") is None  # without the override it is unknown, not free


def test_the_prices_setting_reaches_each_answers_cost(sim):
    llm_magics.configure(base_url=sim.base_url, api_key="sk-test-prices-000", model="sim-small")
    unpriced = llm_magics.complete("price me", cache=False)
    assert unpriced.cost_usd is None
    llm_magics.configure(prices={"sim-small": (3.0, 7.0)})
    priced = llm_magics.complete("price me", cache=False)
    usage = priced.usage
    assert priced.cost_usd == pytest.approx((usage.prompt_tokens * 3 + usage.completion_tokens * 7)
                                            / 1e6)


def test_prices_come_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("LLM_MAGICS_PRICES", json.dumps({"private-llm": [0.5, 1.5]}))
    assert resolve().prices == {"private-llm": (0.5, 1.5)}
    monkeypatch.setenv("LLM_MAGICS_PRICES", "not json")
    with pytest.raises(errors.ConfigurationError, match="prices"):
        resolve()


def test_pricing_opens_no_connection():
    """The library's data ships in the package: pricing must never try the network."""
    script = """
import socket, sys
def refuse(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        raise RuntimeError(f"network used: {event} {args!r}")
sys.addaudithook(refuse)
from llm_magics.core.cost import price_of, cost_usd
from llm_magics.core.types import Usage
from genai_prices import data_snapshot
assert price_of("gpt-4o-mini") is not None and cost_usd("gpt-4o", Usage(10, 10)) > 0
assert price_of("no-such-model-anywhere") is None
assert not data_snapshot.get_snapshot().from_auto_update
print("offline ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "offline ok"
