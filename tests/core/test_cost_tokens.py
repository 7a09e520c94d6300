from llm_magics.core.cost import cost_usd, price_of
from llm_magics.core.tokens import estimate_prompt_tokens
from llm_magics.core.types import Usage


def test_snapshot_names_find_their_base_price():
    assert price_of("gpt-4o-mini-2024-07-18") == price_of("gpt-4o-mini")
    assert price_of("gpt-4o-2024-08-06") == price_of("gpt-4o")


def test_unknown_model_has_no_price_not_zero():
    assert cost_usd("sim-small", Usage(10, 10)) is None


def test_batch_costs_half():
    u = Usage(1_000_000, 0)
    assert cost_usd("gpt-4o-mini", u, batch=True) == cost_usd("gpt-4o-mini", u) / 2


def test_estimate_grows_with_text():
    short = estimate_prompt_tokens([{"role": "user", "content": "hi"}])
    long = estimate_prompt_tokens([{"role": "user", "content": "hi " * 400}])
    assert long > short + 250
