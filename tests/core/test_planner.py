"""The planner's arithmetic and the deadline's spelling: pure functions, no server."""

from __future__ import annotations

import pytest

from llm_magics import errors
from llm_magics.core.constants import BATCH_WINDOW_S, PLAN_CALL_S
from llm_magics.core.deadline import parse_deadline, within_deadline
from llm_magics.core.estimate import Estimate
from llm_magics.core.planner import Rates, async_seconds, decide
from llm_magics.core.settings import resolve


def estimate(calls: int, *, cached: int = 0, tokens_per_call: int = 100) -> Estimate:
    return Estimate("gpt-4o-mini", rows=calls + cached, skipped=0, unique=calls + cached,
                    cached=cached, calls=calls, prompt_tokens=calls * tokens_per_call // 2,
                    completion_tokens_per_call=tokens_per_call // 2,
                    completion_tokens=calls * tokens_per_call // 2, cost_usd=0.02,
                    batch_cost_usd=0.01)


@pytest.mark.parametrize(("given", "seconds"), [
    (90, 90.0), (1.5, 1.5), ("90s", 90.0), ("90", 90.0), ("30m", 1800.0), ("2h", 7200.0),
    ("1d", 86_400.0), (" 2 D ", 172_800.0), (None, None),
])
def test_a_deadline_is_seconds_or_a_number_with_a_unit(given, seconds):
    assert parse_deadline(given) == seconds


@pytest.mark.parametrize("bad", ["soon", "5 weeks", "-3s", 0, -1, "0m", True, [60]])
def test_a_bad_deadline_says_how_to_write_one(bad):
    with pytest.raises(errors.InvalidRequestError, match='"30m"'):
        parse_deadline(bad)


def test_auto_picks_batch_when_the_deadline_leaves_room_for_the_window():
    plan = decide(estimate(1000), Rates(rpm=500), deadline_s=2 * 86_400.0)
    assert plan.choice == "batch" and "batch window" in plan.reason
    assert plan.time_s["batch"] == BATCH_WINDOW_S
    assert plan.cost_usd == {"async": 0.02, "batch": 0.01}
    assert plan.warning is None


def test_auto_picks_async_for_a_deadline_shorter_than_the_window():
    plan = decide(estimate(1000), Rates(rpm=500), deadline_s=300.0)
    assert plan.choice == "async" and "shorter than the batch window" in plan.reason
    assert plan.time_s["async"] == pytest.approx(1000 / (500 / 60))
    assert plan.limit == "rpm=500"
    assert plan.warning is None  # 120 s of calls fit in 5 minutes


def test_a_deadline_the_rate_limit_cannot_meet_is_a_warning_up_front():
    plan = decide(estimate(1000), Rates(rpm=60), deadline_s=300.0)
    assert plan.choice == "async"
    assert "rpm=60" in plan.warning and "DeadlineExceededError" in plan.warning


def test_the_slowest_limit_paces_the_run():
    # 100 calls of 1,000 tokens: tpm=10,000 allows 10 calls a minute, rpm=600 allows 600.
    seconds, limit = async_seconds(100, 1000, Rates(rpm=600, tpm=10_000, workers=32))
    assert limit == "tpm=10,000" and seconds == pytest.approx(600.0)
    seconds, limit = async_seconds(3, 1000, Rates(workers=32))
    assert limit.startswith("concurrency=32") and seconds == PLAN_CALL_S


def test_nothing_to_send_is_async_and_instant():
    plan = decide(estimate(0, cached=50), Rates(), deadline_s=None)
    assert (plan.choice, plan.time_s) == ("async", {"async": 0.0, "batch": 0.0})
    assert "cached" in plan.reason and plan.cached == 50


def test_no_batch_api_or_no_deadline():
    assert decide(estimate(10), Rates(), deadline_s=None,
                  has_batch_api=False).choice == "async"
    assert decide(estimate(10), Rates(), deadline_s=None).choice == "batch"


def test_a_mode_asked_for_is_kept_and_the_plan_renders_as_a_table():
    plan = decide(estimate(10), Rates(), deadline_s=60.0, mode="batch", max_cost_usd=1.0)
    assert plan.choice == "batch" and plan.max_cost_usd == 1.0
    html = plan._repr_html_()
    assert "<table>" in html and "batch ✔" in html and "$0.0200" in html
    assert "Choice: batch" in str(plan) and plan.to_dict()["calls"] == 10


def test_a_runs_deadline_bounds_each_call():
    import time

    settings = resolve(deadline_s=3600)
    bounded = within_deadline(settings, time.monotonic() + 30)
    assert 0 < bounded.deadline_s <= 30
    assert within_deadline(resolve(deadline_s=5), time.monotonic() + 30).deadline_s == 5
    assert within_deadline(settings, None) is settings
