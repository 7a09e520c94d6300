"""``map(mode="queue", max_cost_usd=...)`` with real Redis and a real worker process.

The submitter holds the budget: a task is queued only once its worst case fits,
and more are queued as answers free room. The workers do not know the user's
prices, so spending is counted here from each answer's usage.
"""

from __future__ import annotations

import pytest
from queue_helpers import MODEL, tag

import llm_magics
from llm_magics import errors
from llm_magics.core.budget import worst_case_usd
from llm_magics.core.cost import cost_usd
from llm_magics.core.types import Request, Response

PRICES = {MODEL: (1000.0, 1000.0)}
MAX_TOKENS = 16
ROWS = 30


@pytest.fixture
def queue_run(redis_url, sim, start_worker):
    start_worker(sim.base_url, concurrency=4)
    llm_magics.configure(redis_url=redis_url, base_url=sim.base_url, model=MODEL, prices=PRICES)
    return sim


def spent(outcomes: list) -> float:
    return sum(cost_usd(MODEL, o.usage, prices=PRICES) or 0.0
               for o in outcomes if isinstance(o, Response))


def test_queue_mode_keeps_the_cap_and_a_rerun_sends_only_the_rest(queue_run):
    sim = queue_run
    label = tag()
    prompts = [f"{label} budget {i:03d}" for i in range(ROWS)]
    worst = worst_case_usd(Request([{"role": "user", "content": prompts[0]}], MODEL,
                                   sim.base_url, {"max_tokens": MAX_TOKENS}), prices=PRICES)
    assert worst is not None
    cap = 9.5 * worst
    out = llm_magics.map(prompts, mode="queue", max_tokens=MAX_TOKENS, max_cost_usd=cap)
    answered = [o for o in out if isinstance(o, Response)]
    refused = [i for i, o in enumerate(out) if isinstance(o, errors.BudgetExceededError)]
    assert len(answered) + len(refused) == ROWS and refused
    assert cap - worst < spent(out) <= cap
    assert sim.stats["chat_requests"] == len(answered)
    # The workers know no price for the model: each answer is priced here, with ours.
    assert all(o.cost_usd == cost_usd(MODEL, o.usage, prices=PRICES) for o in answered)

    again = llm_magics.map(prompts, mode="queue", max_tokens=MAX_TOKENS, max_cost_usd=100.0)
    assert all(isinstance(o, Response) for o in again)
    assert sim.stats["chat_requests"] == ROWS  # only the refused rows went out the second time


def test_queue_mode_refuses_a_cap_on_an_unpriced_model_before_queueing(queue_run):
    llm_magics.configure(prices=None)
    with pytest.raises(errors.ConfigurationError, match="no price is known"):
        llm_magics.map([f"{tag()} unpriced"], mode="queue", max_cost_usd=1.0)
    assert queue_run.stats["chat_requests"] == 0
