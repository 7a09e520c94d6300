"""``df.llm.apply(max_cost_usd=...)``: rows not sent are NA with their error; a re-run fills in."""

from __future__ import annotations

import pandas as pd
import pytest

import llm_magics
from llm_magics import errors
from llm_magics.core.budget import worst_case_usd
from llm_magics.core.types import Request

PRICES = {"sim-small": (1000.0, 1000.0)}
MAX_TOKENS = 12


@pytest.fixture
def priced(llm):
    llm.configure(answer_tokens=MAX_TOKENS)
    llm_magics.configure(prices=PRICES)
    return llm


def test_rows_over_the_cap_are_na_with_their_error_and_a_rerun_sends_only_them(priced):
    df = pd.DataFrame({"w": [f"word {i:02d}" for i in range(24)]},
                      index=[f"r{i}" for i in range(24)])
    one = Request([{"role": "user", "content": "Define word 00"}], "sim-small", priced.base_url,
                  {"max_tokens": MAX_TOKENS})
    worst = worst_case_usd(one, prices=PRICES)
    assert worst is not None
    out = df.llm.apply("Define {w}", max_tokens=MAX_TOKENS, max_cost_usd=8 * worst,
                       progress=False)
    failed = df.llm.last_errors
    assert 0 < len(failed) < len(df)
    assert all(isinstance(e, errors.BudgetExceededError) for e in failed)
    assert out[failed.index].isna().all() and out.drop(failed.index).notna().all()
    assert priced.stats["chat_requests"] == len(df) - len(failed)

    sent = priced.stats["chat_requests"]
    full = df.llm.apply("Define {w}", max_tokens=MAX_TOKENS, max_cost_usd=100.0, progress=False)
    assert full.notna().all() and df.llm.last_errors.empty
    assert priced.stats["chat_requests"] - sent == len(failed)
    assert (full.drop(failed.index) == out.drop(failed.index)).all()


def test_errors_raise_names_the_budget(priced):
    df = pd.DataFrame({"w": ["a", "b"]})
    with pytest.raises(errors.LLMError, match="max_cost_usd"):
        df.llm.apply("Define {w}", max_tokens=MAX_TOKENS, max_cost_usd=1e-9, errors="raise",
                     progress=False)
    assert priced.stats["chat_requests"] == 0
