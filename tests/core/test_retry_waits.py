"""Retry waits by kind of failure: a 5xx or dropped connection is retried sooner than a 429.

The policy's wait is a plain function of the last failure and the last wait,
so it is checked directly, with the random draw pinned to its two ends.
"""

from __future__ import annotations

import pytest
import tenacity

from llm_magics import errors
from llm_magics.core.constants import SERVER_RETRY_FACTOR
from llm_magics.core.policy.retry import wait_by_kind
from llm_magics.core.settings import resolve

SETTINGS = resolve(backoff_initial_s=0.5, backoff_max_s=4.0)


def state_after(err: Exception, last_wait: float = 0.0) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    state.set_exception((type(err), err, None))
    state.upcoming_sleep = last_wait
    return state


def waits(err: Exception, last_wait: float = 0.0) -> tuple[float, float]:
    """The shortest and the longest wait the draw can give."""
    low = wait_by_kind(SETTINGS, rng=lambda: 0.0)(state_after(err, last_wait))
    high = wait_by_kind(SETTINGS, rng=lambda: 1.0)(state_after(err, last_wait))
    return low, high


SERVER_FAILURES = [
    errors.ServerError("503", status_code=503),
    errors.APIConnectionError("dropped"),
    errors.APITimeoutError("slow"),
]


@pytest.mark.parametrize("err", SERVER_FAILURES, ids=lambda e: type(e).__name__)
def test_a_server_failure_is_first_retried_after_a_fifth_of_the_initial_wait(err):
    fast = 0.5 * SERVER_RETRY_FACTOR
    assert waits(err) == (pytest.approx(fast), pytest.approx(fast))
    rate_limited = errors.RateLimitError("429", status_code=429)
    assert waits(rate_limited) == (pytest.approx(0.5), pytest.approx(0.5))


def test_later_waits_are_drawn_up_to_three_times_the_last_and_capped():
    err = errors.ServerError("503", status_code=503)
    low, high = waits(err, last_wait=0.6)
    assert low == pytest.approx(0.5 * SERVER_RETRY_FACTOR) and high == pytest.approx(1.8)
    assert waits(err, last_wait=3.0)[1] == pytest.approx(4.0)  # backoff_max_s


def test_a_retry_after_within_the_cap_wins_over_the_jitter():
    err = errors.RateLimitError("429", status_code=429, retry_after_s=7.0)
    assert waits(err, last_wait=1.0) == (7.0, 7.0)
