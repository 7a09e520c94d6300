"""``max_cost_usd`` through map() and complete(), against the simulator over HTTP.

The simulator's request counter is the witness for what was sent; the answers'
own cost (the server's usage at the configured price) is the witness for what
was spent.
"""

from __future__ import annotations

import asyncio

import pytest

import llm_magics
from llm_magics import errors
from llm_magics.core.budget import Budget, worst_case_usd
from llm_magics.core.types import Request, Response, Usage

MODEL = "sim-small"
PRICES = {MODEL: (1000.0, 1000.0)}  # $0.001 a token: a private deployment's price
ANSWER_TOKENS = 16
ROWS = 40


@pytest.fixture(autouse=True)
def use_sim(sim):
    sim.configure(answer_tokens=ANSWER_TOKENS)
    llm_magics.configure(base_url=sim.base_url, api_key="sk-test-budget-0000", model=MODEL,
                         prices=PRICES)


def prompts(label: str, n: int = ROWS) -> list[str]:
    return [f"{label} row {i:03d}" for i in range(n)]  # one length: one worst case for all


def worst_of(prompt: str, sim) -> float:
    request = Request([{"role": "user", "content": prompt}], MODEL, sim.base_url,
                      {"max_tokens": ANSWER_TOKENS})
    worst = worst_case_usd(request, prices=PRICES)
    assert worst is not None
    return worst


def spent(outcomes: list) -> float:
    return sum(o.cost_usd for o in outcomes if isinstance(o, Response))


def test_cap_stops_spending_within_one_requests_worst_case(sim):
    rows = prompts("stop")
    worst = worst_of(rows[0], sim)
    cap = 10.5 * worst
    out = llm_magics.map(rows, max_tokens=ANSWER_TOKENS, max_cost_usd=cap, concurrency=8)
    answered = [o for o in out if isinstance(o, Response)]
    refused = [o for o in out if isinstance(o, errors.BudgetExceededError)]
    assert len(answered) + len(refused) == ROWS and refused
    assert cap - worst < spent(out) <= cap
    assert sim.stats["chat_requests"] == len(answered)  # refused rows never reached the server
    assert isinstance(refused[0], errors.LLMError) and "Raise max_cost_usd" in str(refused[0])


def test_rerun_with_a_higher_cap_sends_only_the_rows_not_sent(sim):
    rows = prompts("rerun")
    first = llm_magics.map(rows, max_tokens=ANSWER_TOKENS,
                           max_cost_usd=6 * worst_of(rows[0], sim))
    refused = [i for i, o in enumerate(first) if isinstance(o, errors.BudgetExceededError)]
    assert refused
    sent_before = sim.stats["chat_requests"]
    second = llm_magics.map(rows, max_tokens=ANSWER_TOKENS, max_cost_usd=1000.0)
    assert all(isinstance(o, Response) for o in second)
    assert sim.stats["chat_requests"] - sent_before == len(refused)
    assert [o.text for i, o in enumerate(first) if i not in refused] == \
        [o.text for i, o in enumerate(second) if i not in refused]


def test_a_cap_on_a_model_without_a_price_is_refused_before_sending(sim):
    llm_magics.configure(prices=None)
    with pytest.raises(errors.ConfigurationError, match="no price is known for model 'sim-small'"):
        llm_magics.map(prompts("unpriced", 3), max_cost_usd=5.0)
    with pytest.raises(errors.ConfigurationError, match="prices="):
        llm_magics.complete("unpriced single", max_cost_usd=5.0)
    assert sim.stats["chat_requests"] == 0


def test_complete_refuses_a_call_that_could_cost_more_than_the_cap(sim):
    prompt = "one call, bounded"
    with pytest.raises(errors.BudgetExceededError, match="could cost up to"):
        llm_magics.complete(prompt, max_tokens=500, max_cost_usd=0.1)
    assert sim.stats["chat_requests"] == 0
    answer = llm_magics.complete(prompt, max_tokens=500, max_cost_usd=1.0)
    assert answer.cost_usd is not None and answer.cost_usd <= 1.0
    cached = llm_magics.complete(prompt, max_tokens=500, max_cost_usd=0.0)  # free: no refusal
    assert cached.cached and sim.stats["chat_requests"] == 1


def test_the_default_completion_bound_applies_without_max_tokens(sim):
    row = "unbounded answer"
    request = Request([{"role": "user", "content": row}], MODEL, sim.base_url)
    worst = worst_case_usd(request, prices=PRICES)
    assert worst is not None and worst > worst_of(row, sim)
    with pytest.raises(errors.BudgetExceededError):
        llm_magics.complete(row, max_cost_usd=worst * 0.99)
    assert llm_magics.complete(row, max_cost_usd=worst).text


def test_an_answer_that_cost_less_than_reserved_frees_room():
    budget = Budget(12.0, prices={"m": (1e6, 0.0)})  # $1 a prompt token, answers free
    call = Request([{"role": "user", "content": ""}], "m", "u")  # bound: 5 prompt tokens
    first, second = budget.try_reserve(call), budget.try_reserve(call)
    assert first == second == pytest.approx(5.0) and budget.try_reserve(call) is None
    budget.settle(first, call, Response("ok", "m", usage=Usage(2, 0)))  # really cost $2
    assert budget.spent_usd == pytest.approx(2.0) and budget.in_flight == 1
    assert budget.try_reserve(call) is not None


def test_a_call_that_does_not_fit_waits_for_calls_in_flight_then_is_refused_alone():
    budget = Budget(8.0, prices={"m": (1e6, 0.0)})
    call = Request([{"role": "user", "content": ""}], "m", "u")

    async def scenario() -> tuple[float | None, float | None]:
        held = budget.try_reserve(call)
        waiting = asyncio.ensure_future(budget.reserve(call))
        await asyncio.sleep(0)
        assert not waiting.done()  # $5 in flight, $5 more does not fit $8: it waits
        budget.settle(held, call, Response("ok", "m", usage=Usage(4, 0)))  # $4 spent
        after_first = await waiting  # $4 + $5 > $8, and nothing in flight: refused
        return held, after_first

    held, refused = asyncio.run(scenario())
    assert held is not None and refused is None
    assert budget.spent_usd == pytest.approx(4.0) and budget.in_flight == 0


def test_a_stream_is_refused_before_it_opens_when_its_worst_case_does_not_fit(sim):
    with pytest.raises(errors.BudgetExceededError):
        for _ in llm_magics.stream("stream under a cap", max_tokens=500, max_cost_usd=0.1):
            pass
    assert sim.stats["chat_requests"] == 0
    text = "".join(llm_magics.stream("stream under a cap", max_tokens=500, max_cost_usd=1.0))
    assert text and sim.stats["chat_requests"] == 1


def test_a_server_that_would_answer_at_length_cannot_take_a_run_past_its_cap(sim):
    """No max_tokens and a server whose answers run to 3,000 tokens: under a cap each request
    goes out bounded where the budget counts it ends, so the cap holds."""
    sim.configure(answer_tokens=3000)
    rows = prompts("long", 12)
    unbounded = Request([{"role": "user", "content": rows[0]}], MODEL, sim.base_url)
    worst = worst_case_usd(unbounded, prices=PRICES)
    assert worst is not None
    cap = 6.5 * worst  # the budget's reservations let at most 6 of 12 rows go out
    out = llm_magics.map(rows, max_cost_usd=cap, concurrency=4)
    answered = [o for o in out if isinstance(o, Response)]
    assert answered and spent(out) <= cap
    assert all(o.usage.completion_tokens <= 1024 and o.finish_reason == "length"
               for o in answered)


def test_n_choices_reserve_n_answers():
    one = Request([{"role": "user", "content": "x"}], MODEL, "u", {"max_tokens": 10})
    three = Request([{"role": "user", "content": "x"}], MODEL, "u", {"max_tokens": 10, "n": 3})
    extra = worst_case_usd(three, prices=PRICES) - worst_case_usd(one, prices=PRICES)
    assert extra == pytest.approx(2 * 10 * PRICES[MODEL][1] / 1e6)  # two more 10-token answers
