"""``mode="auto"``, ``plan()`` and a batch with a deadline, against the simulator.

The simulator's counters are the witness: ``chat_requests`` counts calls sent
async, ``batches["lines"]`` lines answered through the Batch API. A row the
batch answered and the fallback sent again would show in both.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest
from batch_helpers import MODEL, batch_lines, chat_body

import llm_magics
from llm_magics import errors
from llm_magics.core.jobs import FanoutJob
from llm_magics.core.types import Response
from llm_magics.jupyter.batch_tracker import BatchTracker
from llm_magics.pandas import register
from llm_magics.server.sim import expected_answer
from tests.support.sim import Simulator
from tests.support.waiting import wait_until

PROMPTS = [f"Define word {i}" for i in range(10)]


@pytest.fixture(autouse=True)
def accessor() -> None:
    register()


def answers_are_their_own(results: list, prompts: list[str]) -> None:
    assert all(isinstance(r, Response) for r in results), results
    assert [r.text for r in results] == [expected_answer(chat_body(p)) for p in prompts]


def test_plan_sends_nothing_and_counts_cached_rows_as_free_and_instant(llm):
    llm_magics.map(PROMPTS[:4])  # these four are cached now
    llm.reset_stats()
    plan = llm_magics.plan(PROMPTS + PROMPTS[:2], deadline="5m", rpm=60)
    assert llm.stats["chat_requests"] == 0 and llm.stats["batches"].get("created", 0) == 0
    assert (plan.rows, plan.cached, plan.calls) == (12, 4, 6)
    assert plan.time_s["async"] == pytest.approx(6.0)  # 6 calls at one a second
    assert plan.cost_usd["batch"] == pytest.approx(plan.cost_usd["async"] / 2)
    fresh = llm_magics.plan(PROMPTS[4:], deadline="5m", rpm=60)
    assert fresh.cost_usd == plan.cost_usd and fresh.tokens == plan.tokens


def test_df_plan_renders_the_choice_and_sends_nothing(llm):
    df = pd.DataFrame({"w": ["cat", "dog", "cat", None]})
    plan = df.llm.plan("Define {w}", deadline="2d")
    assert (plan.rows, plan.calls, plan.choice) == (4, 2, "batch")
    assert "<table>" in plan._repr_html_() and "batch ✔" in plan._repr_html_()
    assert llm.stats["chat_requests"] == 0


def test_auto_picks_batch_for_a_two_day_deadline(llm):
    results = llm_magics.map(PROMPTS, mode="auto", deadline="2d")
    answers_are_their_own(results, PROMPTS)
    assert batch_lines(llm) == len(PROMPTS) and llm.stats["chat_requests"] == 0


def test_auto_picks_async_for_five_minutes(llm):
    results = llm_magics.map(PROMPTS, mode="auto", deadline="5m")
    answers_are_their_own(results, PROMPTS)
    assert llm.stats["chat_requests"] == len(PROMPTS) and batch_lines(llm) == 0


def test_auto_on_a_dataframe_hands_back_a_batch_but_waits_for_async(llm):
    df = pd.DataFrame({"w": ["cat", "dog"]}, index=[7, 3])
    job = df.llm.apply("Define {w}", mode="auto", deadline="2d", progress=False)
    assert job.plan.choice == "batch"
    batch_series = job.results()
    now = df.llm.apply("Define {w}", mode="auto", deadline="5m", progress=False, cache=False)
    pd.testing.assert_series_equal(batch_series, now)
    assert list(now.index) == [7, 3]


def test_auto_warns_up_front_when_the_rate_limit_cannot_make_the_deadline():
    with Simulator() as own:  # its own endpoint: rpm=1 stays with this process's limiter for it
        llm_magics.configure(base_url=own.base_url, api_key="sk-test", model=MODEL)
        with pytest.warns(errors.DeadlineWarning, match="rpm=1"):
            results = llm_magics.map(PROMPTS[:2], mode="auto", deadline=3, rpm=1)
        assert isinstance(results[0], Response)  # the first call fits, the limiter holds the next
        assert isinstance(results[1], errors.DeadlineExceededError)
        assert own.stats["chat_requests"] == 1
        later = llm_magics.plan(PROMPTS, deadline="5m")  # the limit is known now: no rpm given
        assert later.limit == "rpm=1" and later.warning is not None


def run_against_the_deadline(llm, **fault) -> tuple[FanoutJob, list, float]:
    """``mode="batch", deadline=60`` on a batch that misbehaves; every row must still arrive.

    A stuck batch is given up on when the rest would no longer fit: about 13 s
    before the deadline here (5 calls, one round at concurrency 32, stretched,
    plus the grace for the cancel), so that test takes most of the minute.
    """
    llm.configure(**fault)
    started = time.monotonic()
    df = pd.DataFrame({"p": PROMPTS})
    job = df.llm.apply("{p}", mode="batch", deadline=60, progress=False)
    assert isinstance(job, FanoutJob) and job.batch is not None
    series = job.results(timeout=120)
    return job, series.tolist(), time.monotonic() - started


def delivered_once_each(llm, job: FanoutJob, texts: list) -> int:
    assert texts == [expected_answer(chat_body(p)) for p in PROMPTS]
    from_batch = batch_lines(llm)
    assert 0 < from_batch < len(PROMPTS)
    assert llm.stats["chat_requests"] == len(PROMPTS) - from_batch  # no answer was re-sent
    assert job.status().completed == len(PROMPTS)
    return from_batch


def test_a_stuck_batch_is_given_up_on_in_time_and_its_answers_kept(llm):
    job, texts, elapsed = run_against_the_deadline(llm, batch_stall_after_fraction=0.5)
    assert elapsed < 60
    assert delivered_once_each(llm, job, texts) == 5
    assert "cancelled for the deadline after 5/10 answers" in job.progress["note"]
    assert job.batch.summary().state == "cancelled"
    assert 0 < float(job.batch.summary().metadata["llm_magics_deadline"]) - time.time() < 60
    assert llm.stats["batches"]["cancelled"] == 1


def test_an_expiring_batch_hands_its_partial_output_to_the_async_rest(llm):
    job, texts, elapsed = run_against_the_deadline(llm, batch_expire_after_fraction=0.3)
    assert elapsed < 60
    assert delivered_once_each(llm, job, texts) == 3
    assert "expired after 3/10 answers" in job.progress["note"]
    assert "7 rows sent async" in job.progress["note"]
    [row] = BatchTracker([job.batch], start=False).rows  # %llm_batch status shows the switch
    assert row.state == "expired" and "unanswered rows sent async" in row._info.value


def test_a_batch_that_completes_in_time_sends_nothing_async(llm):
    results = llm_magics.map(PROMPTS, mode="batch", deadline="1h")
    answers_are_their_own(results, PROMPTS)
    assert batch_lines(llm) == len(PROMPTS) and llm.stats["chat_requests"] == 0
    [job] = llm_magics.batch.jobs()
    [row] = BatchTracker([llm_magics.batch.get_job(job.id)], start=False).rows
    assert "done before the deadline" in row._info.value


def test_a_run_past_its_deadline_has_the_late_rows_as_errors_unsent(llm):
    llm.configure(latency_s=1.0)
    results = llm_magics.map(PROMPTS[:4], concurrency=1, deadline=1.5, cache=False)
    # the second call cannot end by 1.5 s (it starts after the first, ~1 s in); the last two
    # come up after the deadline and are not sent at all
    assert all(isinstance(r, errors.DeadlineExceededError) for r in results[1:])
    assert all("Not sent" in r.message for r in results[2:])
    assert llm.stats["chat_requests"] <= 2


def test_a_bad_deadline_fails_before_anything_is_sent(llm):
    with pytest.raises(errors.InvalidRequestError, match="deadline="):
        pd.DataFrame({"w": ["a"]}).llm.apply("{w}", mode="auto", deadline="tomorrow")
    assert llm.stats["chat_requests"] == 0


def test_the_model_is_priced_so_the_plan_has_costs(llm):
    plan = llm_magics.plan(["x"], deadline=60)
    assert plan.estimate.model == MODEL and plan.cost_usd["async"] > 0


def test_stopping_a_watched_batch_cancels_it_and_sends_nothing_async(llm):
    llm.configure(batch_stall_after_fraction=0.5)
    job = pd.DataFrame({"p": PROMPTS}).llm.apply("{p}", mode="batch", deadline="1h",
                                                 progress=False)
    wait_until(lambda: batch_lines(llm) == 5, what="the batch's first five answers")
    assert job.cancel()
    with pytest.raises(errors.CancelledError, match="stopped after 5 of 10 rows"):
        job.results(timeout=60)
    assert job.batch.summary().state == "cancelled"
    assert llm.stats["chat_requests"] == 0


def test_unconfigured_the_plan_is_async_on_the_local_model_which_has_no_batch_api():
    plan = llm_magics.plan(PROMPTS, deadline="2d")
    assert plan.choice == "async" and "no Batch API" in plan.reason
    assert plan.estimate.model == "local" and plan.calls == len(PROMPTS)
