"""df.llm.estimate: what an apply would send and cost, with nothing sent."""

from __future__ import annotations

import pandas as pd
import pytest

from llm_magics.core.cost import cost_usd
from llm_magics.core.estimate import estimate_requests
from llm_magics.core.providers import planning_endpoint
from llm_magics.core.settings import resolve
from llm_magics.core.tokens import estimate_prompt_tokens
from llm_magics.core.types import Usage
from llm_magics.local.provider import PLACEHOLDER_URL


def test_estimate_counts_rows_distinct_prompts_tokens_and_both_prices(llm):
    df = pd.DataFrame({"w": ["cat", "dog", "cat", None]})
    est = df.llm.estimate("Define {w}", model="gpt-4o-mini", completion_tokens=50)
    prompt = sum(estimate_prompt_tokens([{"role": "user", "content": f"Define {w}"}])
                 for w in ("cat", "dog"))
    assert (est.rows, est.skipped, est.unique, est.cached, est.calls) == (4, 1, 2, 0, 2)
    assert est.prompt_tokens == prompt and est.completion_tokens == 100
    assert est.cost_usd == pytest.approx(cost_usd("gpt-4o-mini", Usage(prompt, 100)))
    assert est.batch_cost_usd == pytest.approx(est.cost_usd / 2)
    assert "2 calls to send" in str(est)
    assert llm.stats["chat_requests"] == 0


def test_cached_rows_cost_nothing(llm):
    df = pd.DataFrame({"w": ["a", "b", "c"]})
    df.iloc[:2].llm.apply("Define {w}", model="gpt-4o-mini", progress=False)
    est = df.llm.estimate("Define {w}", model="gpt-4o-mini")
    assert (est.unique, est.cached, est.calls) == (3, 2, 1)
    assert est.completion_tokens == est.completion_tokens_per_call == 256


def test_max_tokens_is_the_assumed_answer_length_and_unknown_models_have_no_price(llm):
    est = pd.Series(["a", "b"]).llm.estimate("{}", max_tokens=10)
    assert est.completion_tokens == 20 and est.model == "sim-small"
    assert est.cost_usd is None and est.batch_cost_usd is None
    assert "unknown price" in str(est)


def test_unconfigured_estimate_plans_without_starting_the_local_model():
    endpoint, exact = planning_endpoint(resolve())
    assert endpoint.base_url == PLACEHOLDER_URL and not exact
    est = pd.DataFrame({"w": ["a"]}).llm.estimate("{w}", model="gpt-4o")
    assert est.calls == 1 and est.cost_usd is not None


def test_estimate_requests_skips_rows_that_send_nothing():
    from llm_magics.errors import TemplateError

    est = estimate_requests([None, TemplateError("x")], model="gpt-4o")
    assert (est.rows, est.skipped, est.calls, est.cost_usd) == (2, 2, 0, 0.0)
