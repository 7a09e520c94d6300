"""``Retry-After`` is honoured up to a cap: one huge header never freezes an endpoint.

The simulator's ``retry_after_s`` switch puts any value on its 429s; the cap
is ``RETRY_AFTER_MAX_S`` (60 s, as openai-python).
"""

from __future__ import annotations

import time

import pytest

import llm_magics
from llm_magics import errors
from llm_magics.core.call_stats import CallStats
from llm_magics.core.constants import RATE_LIMIT_PAUSE_S, RETRY_AFTER_MAX_S
from llm_magics.jupyter.progress import FanoutTracker, summary
from tests.support.sim import Simulator

KEY = "sk-retry-after-secret-0123456789"
BOUND_S = 10.0


@pytest.fixture
def sim(request_path):
    with Simulator() as server:
        llm_magics.configure(base_url=server.base_url, api_key=KEY, model="sim-small",
                             cache=False, backoff_initial_s=0.05)
        yield server


def limiter_status(sim: Simulator) -> dict:
    return llm_magics.status()["endpoints"][f"{sim.base_url} sim-small"]["limiter"]


def test_an_hour_of_retry_after_ends_that_call_and_freezes_nothing(sim):
    sim.configure(fail_status=429, retry_after_s=3600)
    started = time.monotonic()
    with pytest.raises(errors.RateLimitError) as info:
        llm_magics.complete("quota gone", deadline_s=5)
    assert time.monotonic() - started < BOUND_S
    assert "3600s" in info.value.message and f"{RETRY_AFTER_MAX_S:.0f}s" in info.value.message
    assert info.value.retry_after_s == 3600
    assert sim.stats["chat_requests"] == 1  # not retried: waiting an hour is not a retry
    assert limiter_status(sim)["paused_for_s"] <= RATE_LIMIT_PAUSE_S

    sim.configure(fail_status=None)
    started = time.monotonic()
    assert llm_magics.complete("the next call, no deadline").text
    assert time.monotonic() - started < BOUND_S


def test_a_retry_after_within_the_cap_pauses_everyone_and_shows_in_status(sim):
    sim.configure(fail_status=429, retry_after_s=30)
    with pytest.raises(errors.RateLimitError):
        llm_magics.complete("first", max_retries=0)
    limiter = limiter_status(sim)
    assert 20 < limiter["paused_for_s"] <= 30
    assert "429" in limiter["pause_reason"]

    sim.configure(fail_status=None)
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceededError, match="rate-limit slot"):
        llm_magics.complete("second waits for the pause", deadline_s=1)
    assert time.monotonic() - started < BOUND_S
    assert sim.stats["chat_requests"] == 1  # the paused call never reached the server


def test_a_retry_after_longer_than_the_deadline_fails_at_once(sim):
    sim.configure(fail_status=429, retry_after_s=30)
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceededError) as info:
        llm_magics.complete("no time to wait", max_retries=3, deadline_s=5)
    assert time.monotonic() - started < 5  # it did not sit out the deadline either
    assert "Retry-After" in info.value.message and "deadline_s=5" in info.value.message
    assert info.value.status_code == 429 and info.value.retry_after_s == 30
    assert sim.stats["chat_requests"] == 1


def test_a_short_retry_after_is_waited_for_then_retried(sim):
    sim.configure(fail_status=429, retry_after_s=0.4)
    started = time.monotonic()
    with pytest.raises(errors.RateLimitError):
        llm_magics.complete("still limited", max_retries=2)
    assert time.monotonic() - started >= 0.8  # two waits of 0.4s, not the 0.05s backoff
    assert sim.stats["chat_requests"] == 3


def test_the_progress_snapshot_shows_a_pause(sim):
    sim.configure(fail_status=429, retry_after_s=30)
    stats = CallStats()
    results = llm_magics.map(["a", "b"], stats=stats, max_retries=0)
    assert all(isinstance(r, errors.RateLimitError) for r in results)
    snap = FanoutTracker(total=2, stats=stats).snapshot()
    assert 20 < snap["paused_s"] <= 30
    assert "paused" in summary(snap) and "after a 429" in summary(snap)
