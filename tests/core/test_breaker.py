import pytest

from llm_magics.core.policy.breaker import CircuitBreaker
from llm_magics.errors import CircuitOpenError


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_opens_after_threshold_and_says_when_it_retries():
    clock = Clock()
    b = CircuitBreaker("sim", threshold=3, cooldown_s=10, clock=clock)
    for _ in range(3):
        b.before_call()
        b.on_failure()
    assert b.state == "open"
    with pytest.raises(CircuitOpenError, match=r"in 10\.0s"):
        b.before_call()


def test_half_open_lets_exactly_one_probe_through():
    clock = Clock()
    b = CircuitBreaker("sim", threshold=1, cooldown_s=5, clock=clock)
    b.before_call()
    b.on_failure()
    clock.now = 6
    assert b.before_call() is True  # the probe
    for _ in range(10):
        with pytest.raises(CircuitOpenError, match="probed"):
            b.before_call()
    b.on_success()
    assert b.state == "closed"
    assert b.before_call() is False


def test_failed_probe_reopens():
    clock = Clock()
    b = CircuitBreaker("sim", threshold=1, cooldown_s=5, clock=clock)
    b.before_call()
    b.on_failure()
    clock.now = 6
    b.before_call()
    b.on_failure()
    assert b.state == "open"
    with pytest.raises(CircuitOpenError):
        b.before_call()


def test_success_resets_the_failure_count():
    b = CircuitBreaker("sim", threshold=2)
    b.on_failure()
    b.on_success()
    b.on_failure()
    assert b.state == "closed"


def test_fast_failures_overtaking_slow_successes_do_not_open_it():
    b = CircuitBreaker("sim", threshold=5)
    for _ in range(64):  # a fan-out: 64 calls in flight
        b.before_call()
    for _ in range(6):  # six quick 503s arrive before any 200 ms success
        b.on_failure()
    assert b.state == "closed"
    for _ in range(58):
        b.on_success()
    assert b.state == "closed" and b.in_flight == 0


def test_a_server_down_under_a_fanout_opens_it_within_the_burst():
    b = CircuitBreaker("sim", threshold=5)
    for _ in range(64):
        b.before_call()
    failed = 0
    while b.state == "closed" and failed < 64:
        b.on_failure()
        failed += 1
    assert b.state == "open" and failed < 40
