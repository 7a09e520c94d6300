"""pack=N through map(): every row gets its own answer, and what a pack gets wrong goes alone.

The simulator answers each item of a packed request exactly as it answers the
row sent alone (``server/sim/packed.py``), so "its own answer" is checked
against the unpacked answer; its request counter says how many calls went out.
"""

from __future__ import annotations

import math

import pytest

import llm_magics
from llm_magics import errors
from llm_magics.core.call_stats import CallStats
from llm_magics.server.sim.answers import expected_answer
from tests.support.sim import chat_body

PROMPTS = [f"Define word number {i}" for i in range(25)]


@pytest.fixture(autouse=True)
def use_sim(sim):
    llm_magics.configure(base_url=sim.base_url, api_key="sk-test-secret-key-000",
                         model="sim-small")


def own(sim, prompt: str, **params) -> str:
    return expected_answer(chat_body(prompt, **params), sim.config)


def calls(sim) -> int:
    return sim.stats["chat_requests"]


def test_pack_of_ten_gives_every_row_the_answer_an_unpacked_run_gives(sim):
    packed = llm_magics.map(PROMPTS, pack=10, cache=False)
    assert calls(sim) == math.ceil(len(PROMPTS) / 10)
    unpacked = llm_magics.map(PROMPTS, cache=False)
    assert [str(r) for r in packed] == [str(r) for r in unpacked]
    assert [str(r) for r in packed] == [own(sim, p) for p in PROMPTS]
    assert len({str(r) for r in packed}) == len(PROMPTS)


@pytest.mark.parametrize("fault", ["drop", "dup", "bad"])
def test_a_missing_duplicated_or_invalid_row_is_sent_again_alone(sim, fault):
    prompts = [*PROMPTS[:9], f"PACKED:{fault} the odd one"]
    out = llm_magics.map(prompts, pack=10, cache=False)
    assert calls(sim) == 2  # the pack, then the faulty row by itself
    assert [str(r) for r in out] == [own(sim, p) for p in prompts]


def test_a_fault_rate_in_packed_replies_still_ends_with_every_rows_own_answer(sim):
    sim.configure(pack_fault_rate=0.3)
    prompts = [f"row {i}" for i in range(40)]
    out = llm_magics.map(prompts, pack=10, cache=False)
    assert [str(r) for r in out] == [own(sim, p) for p in prompts]
    assert calls(sim) > 4  # some rows had to go alone


def test_a_reply_cut_short_answers_no_row_and_every_row_goes_alone(sim):
    prompts = PROMPTS[:5]
    out = llm_magics.map(prompts, pack=5, cache=False, max_tokens=2)
    assert calls(sim) == 1 + len(prompts)
    assert [str(r) for r in out] == [own(sim, p, max_tokens=2) for p in prompts]


def test_packed_answers_are_cached_under_each_rows_own_key(sim):
    prompts = [*PROMPTS[:9], "PACKED:drop sent alone"]
    first = llm_magics.map(prompts, pack=10)
    assert calls(sim) == 2
    unpacked = llm_magics.map(prompts)  # the unpacked requests find every answer cached
    assert calls(sim) == 2
    assert all(r.cached for r in unpacked)
    assert [str(r) for r in unpacked] == [str(r) for r in first]
    llm_magics.map(list(reversed(prompts)), pack=3)  # other packs, same rows: nothing sent
    assert calls(sim) == 2


def test_unpacked_answers_in_the_cache_are_not_packed_again(sim):
    llm_magics.map(PROMPTS[:4])
    assert calls(sim) == 4
    out = llm_magics.map(PROMPTS[:8], pack=10)
    assert calls(sim) == 5  # one pack of the 4 rows not cached yet
    assert [str(r) for r in out] == [own(sim, p) for p in PROMPTS[:8]]


def test_a_row_that_fails_alone_is_an_error_in_its_slot(sim):
    prompts = [*PROMPTS[:4], "STATUS:400 refused"]
    out = llm_magics.map(prompts, pack=5, cache=False, max_retries=0)
    assert [str(r) for r in out[:4]] == [own(sim, p) for p in PROMPTS[:4]]
    assert isinstance(out[4], errors.InvalidRequestError)
    assert calls(sim) == 2


def test_a_pack_too_long_for_the_context_has_its_rows_sent_alone(sim):
    sim.configure(context_tokens=60)
    out = llm_magics.map(PROMPTS[:10], pack=10, cache=False)
    assert sim.stats["client_errors"] == 1
    assert calls(sim) == 1 + 10
    assert [str(r) for r in out] == [own(sim, p) for p in PROMPTS[:10]]


def test_a_failed_packed_request_is_each_of_its_rows_error_not_n_more_calls(sim):
    sim.configure(fail_status=503)
    out = llm_magics.map(PROMPTS[:6], pack=3, cache=False, max_retries=0)
    assert all(isinstance(r, errors.ServerError) for r in out)
    assert calls(sim) == 2


def test_a_pack_that_outlives_the_deadline_is_each_rows_deadline_error(sim):
    sim.configure(hang_rate=1.0)
    out = llm_magics.map(PROMPTS[:6], pack=3, cache=False, deadline="2s")
    assert all(isinstance(r, errors.DeadlineExceededError) for r in out)
    assert calls(sim) == 2  # nothing re-sent alone after the deadline


def test_under_a_cap_a_pack_reserves_and_spends_as_one_call(sim):
    stats = CallStats()
    out = llm_magics.map(PROMPTS[:10], pack=10, cache=False, model="gpt-4o-mini",
                         max_cost_usd=1.0, stats=stats)
    assert [str(r) for r in out] == [own(sim, p, model="gpt-4o-mini") for p in PROMPTS[:10]]
    assert calls(sim) == 1 and 0 < stats.cost_usd < 1.0


def test_a_pack_whose_worst_case_passes_the_cap_is_each_rows_budget_error(sim):
    out = llm_magics.map(PROMPTS[:10], pack=10, cache=False, model="gpt-4o-mini",
                         max_cost_usd=1e-6)
    assert all(isinstance(r, errors.BudgetExceededError) for r in out)
    assert calls(sim) == 0


def test_rows_pay_for_their_pack_between_them(sim):
    stats = CallStats()
    llm_magics.map(PROMPTS, pack=10, cache=False, stats=stats)
    server = sim.stats
    assert stats.completed == len(PROMPTS) and stats.failed == 0
    assert stats.prompt_tokens == server["prompt_tokens"]
    assert stats.completion_tokens == server["completion_tokens"]
    assert stats.attempts == server["chat_requests"] == 3


def test_pack_auto_sizes_packs_from_the_expected_answer(sim):
    prompts = [f"auto {i}" for i in range(30)]
    out = llm_magics.map(prompts, pack="auto", cache=False)
    assert calls(sim) == 2  # 15 rows of ~256 answer tokens fit the auto budget
    assert [str(r) for r in out] == [own(sim, p) for p in prompts]


def test_rows_that_differ_in_more_than_their_last_message_are_not_packed_together(sim):
    out = llm_magics.map(PROMPTS[:3] + [[{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "hi"}]],
                         pack=10, cache=False)
    assert calls(sim) == 2  # the three plain prompts packed, the other alone
    assert str(out[3]) == own(sim, "hi", system="Be brief.")


@pytest.mark.parametrize("pack", [0, -1, "many", 2.5, True])
def test_a_bad_pack_says_what_to_pass(sim, pack):
    with pytest.raises(errors.InvalidRequestError, match="pack="):
        llm_magics.map(PROMPTS[:2], pack=pack)
    assert calls(sim) == 0


def test_pack_with_a_mode_that_sends_one_row_per_request_is_refused(sim):
    with pytest.raises(errors.InvalidRequestError, match="mode='batch'"):
        llm_magics.map(PROMPTS[:2], pack=10, mode="batch")
    assert calls(sim) == 0 and sim.stats["files_uploaded"] == 0


def test_pack_with_a_response_format_is_refused(sim):
    with pytest.raises(errors.InvalidRequestError, match="schema="):
        llm_magics.map(PROMPTS[:2], pack=10, response_format={"type": "json_object"})
    assert calls(sim) == 0


def test_auto_mode_with_pack_runs_packed_async(sim):
    out = llm_magics.map(PROMPTS[:10], pack=10, mode="auto", cache=False)
    assert calls(sim) == 1 and sim.stats["files_uploaded"] == 0
    assert [str(r) for r in out] == [own(sim, p) for p in PROMPTS[:10]]


def test_plan_shows_the_packed_calls_and_cost(sim):
    plan = llm_magics.plan(PROMPTS, pack=10, model="gpt-4o-mini")
    unpacked = llm_magics.plan(PROMPTS, model="gpt-4o-mini")
    assert plan.calls == 3 and unpacked.calls == len(PROMPTS)
    assert plan.choice == "async" and "pack=10" in plan.reason
    assert plan.cost_usd["batch"] == unpacked.cost_usd["batch"]  # a batch is never packed
    assert plan.cost_usd["async"] != unpacked.cost_usd["async"]
    assert "3 calls of 10 rows each" in str(plan)
    assert calls(sim) == 0
