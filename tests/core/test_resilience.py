"""Resilience against the real simulator: rate limits, retries, breaker, timeouts, priorities."""

from __future__ import annotations

import logging
import threading
import time

import openai
import pytest

import llm_magics
from llm_magics import errors
from llm_magics.core.call_stats import CallStats
from llm_magics.core.engine import get_engine
from tests.support.sim import Simulator

KEY = "sk-resilience-secret-0123456789"


@pytest.fixture
def sim():
    with Simulator() as server:
        llm_magics.configure(base_url=server.base_url, api_key=KEY, model="sim-small",
                             cache=False)
        yield server


def accepted_rate_per_min(stats) -> float:
    times = sorted(stats["accepted_times"])
    return (len(times) - 1) / (times[-1] - times[0]) * 60


def test_fanout_under_600_rpm_stays_within_the_limit(sim):
    """1,500 prompts, concurrency 64, server limited to 600 RPM (takes about 2.5 minutes)."""
    sim.configure(rpm=600, latency_s=0.05)
    stats = CallStats()
    results = llm_magics.map([f"rate {i}" for i in range(1500)], concurrency=64, rpm=600,
                             stats=stats)
    server = sim.stats
    assert all(isinstance(r, llm_magics.Response) for r in results)
    assert server["rate_limited"] / server["chat_requests"] < 0.02
    rate = accepted_rate_per_min(server)
    print(f"600 RPM fan-out: {rate:.1f}/min achieved, {server['rate_limited']} 429s of "
          f"{server['chat_requests']} requests, {stats.retries} retries")
    assert 0.85 * 600 <= rate <= 600 * 1.02, rate


@pytest.mark.usefixtures("request_path")
def test_every_prompt_survives_20_percent_503s(sim):
    # Latency on successes only: quick 503s overtake slow answers, as with a real server,
    # which must not trip the breaker while most calls are fine.
    sim.configure(error_rate=0.2, latency_s=0.1)
    stats = CallStats()
    results = llm_magics.map([f"flaky {i}" for i in range(500)], concurrency=64,
                             backoff_initial_s=0.05, backoff_max_s=0.5, stats=stats)
    assert all(isinstance(r, llm_magics.Response) for r in results)
    assert sim.stats["server_errors"] > 50  # the faults really happened...
    assert stats.retries == sim.stats["server_errors"]  # ...and each one was retried once


@pytest.mark.usefixtures("request_path")
def test_after_a_429_the_retry_waits_for_retry_after(sim):
    sim.configure(rpm=30)  # one slot every 2s
    bare = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.RateLimitError):  # empty the bucket; our limiter sees none of it
        for i in range(1000):
            bare.chat.completions.create(model="sim-small",
                                         messages=[{"role": "user", "content": f"spend {i}"}])
    before = sim.stats["chat_requests"]
    started = time.monotonic()
    r = llm_magics.complete("after the 429", max_retries=3, backoff_initial_s=0.01)
    elapsed = time.monotonic() - started
    assert r.text
    assert sim.stats["chat_requests"] - before == 2  # one 429, then success
    assert elapsed >= 0.2  # waited for the server's Retry-After, not the 10ms backoff


@pytest.mark.usefixtures("request_path")
def test_retry_after_is_capped_by_backoff_max(sim):
    sim.configure(rpm=1)
    openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0).chat.completions.create(
        model="sim-small", messages=[{"role": "user", "content": "spend it"}])
    started = time.monotonic()
    with pytest.raises(errors.RateLimitError) as info:
        llm_magics.complete("capped", max_retries=0)
    assert info.value.retry_after_s > 30
    assert time.monotonic() - started < 10  # no retry: it did not sit out the Retry-After


def test_retry_after_http_date_is_understood():
    from email.utils import formatdate

    from llm_magics.core.client import _retry_after

    assert 8 <= _retry_after({"retry-after": formatdate(time.time() + 10, usegmt=True)}) <= 10
    assert _retry_after({"retry-after": "3"}) == 3
    assert _retry_after({"retry-after-ms": "250"}) == 0.25


@pytest.mark.usefixtures("request_path")
def test_a_400_is_raised_at_once_without_retry(sim):
    with pytest.raises(errors.InvalidRequestError):
        llm_magics.complete("STATUS:400", max_retries=6)
    assert sim.stats["chat_requests"] == 1


@pytest.mark.usefixtures("request_path")
@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_client_errors_are_never_retried(sim, status):
    with pytest.raises(errors.LLMError) as info:
        llm_magics.complete(f"STATUS:{status}", max_retries=6)
    assert info.value.status_code == status
    assert sim.stats["chat_requests"] == 1


@pytest.mark.usefixtures("request_path")
@pytest.mark.parametrize("status", [408, 409, 500, 502, 503, 504])
def test_transient_errors_are_retried_up_to_max_retries(sim, status):
    with pytest.raises(errors.LLMError) as info:
        llm_magics.complete(f"STATUS:{status}", max_retries=2, backoff_initial_s=0.01,
                            breaker_threshold=50)
    assert info.value.retryable
    assert sim.stats["chat_requests"] == 3


def test_breaker_opens_fails_fast_and_closes_after_a_probe():
    with Simulator() as first:
        port = first.port
        llm_magics.configure(base_url=first.base_url, api_key=KEY, model="sim-small",
                             cache=False, breaker_threshold=3, breaker_cooldown_s=0.5,
                             max_retries=0)
        llm_magics.complete("up")
    # The server is down now: connection errors until the breaker opens.
    for _ in range(3):
        with pytest.raises(errors.APIConnectionError):
            llm_magics.complete("down")
    for _ in range(20):  # refused by the open breaker, without trying the server
        with pytest.raises(errors.CircuitOpenError, match="next try"):
            llm_magics.complete("down")
    with Simulator(port=port) as again:
        time.sleep(0.6)  # cool-down passes: the next call is the probe
        assert llm_magics.complete("back").text
        assert again.stats["chat_requests"] == 1
    snap = llm_magics.status()["endpoints"]
    assert any(v["breaker"]["state"] == "closed" for v in snap.values())


def test_half_open_lets_one_probe_through_a_concurrent_fanout():
    with Simulator() as first:
        port = first.port
        llm_magics.configure(base_url=first.base_url, api_key=KEY, model="sim-small",
                             cache=False, breaker_threshold=2, breaker_cooldown_s=0.3,
                             max_retries=0)
        llm_magics.complete("up")
    for _ in range(2):
        with pytest.raises(errors.APIConnectionError):
            llm_magics.complete("down")
    with Simulator(port=port, latency_s=0.3) as again:
        time.sleep(0.35)
        results = llm_magics.map([f"probe {i}" for i in range(20)], concurrency=20)
        assert again.stats["chat_requests"] == 1  # exactly one probe reached the server
    assert sum(isinstance(r, llm_magics.Response) for r in results) == 1
    assert sum(isinstance(r, errors.CircuitOpenError) for r in results) == 19


@pytest.mark.usefixtures("request_path")
def test_hanging_request_times_out_with_advice(sim):
    sim.configure(hang_rate=1.0, hang_max_s=5)
    started = time.monotonic()
    with pytest.raises(errors.APITimeoutError, match="timeout"):
        llm_magics.complete("hang", timeout=0.5, read_timeout=0.5, max_retries=0)
    assert time.monotonic() - started < 4.5  # bounded by the timeout, not the 5 s hang


@pytest.mark.usefixtures("request_path")
def test_stream_dropped_before_first_token_is_retried(sim):
    sim.configure(drop_before_first_token_rate=0.5, answer_tokens=10, seed=3)
    for i in range(6):
        s = llm_magics.stream(f"retry me {i}", backoff_initial_s=0.01)
        assert "".join(s) == s.response.text and s.response.text
    assert sim.stats["drops"] >= 1


@pytest.mark.usefixtures("request_path")
def test_stream_dropped_after_text_ends_with_partial_text_not_duplicates(sim):
    sim.configure(drop_rate=1.0, answer_tokens=40)
    s = llm_magics.stream("drop me")
    seen = []
    with pytest.raises(errors.StreamInterruptedError) as info:
        for delta in s:
            seen.append(delta)
    assert seen and info.value.partial_text == "".join(seen)
    assert sim.stats["chat_requests"] == 1  # not silently restarted


@pytest.mark.usefixtures("request_path")
def test_stream_idle_timeout(sim):
    sim.configure(answer_tokens=5, token_latency_s=2.0)
    with pytest.raises((errors.StreamInterruptedError, errors.APITimeoutError)) as info:
        list(llm_magics.stream("slow", stream_idle_timeout=0.3, max_retries=0))
    assert "stream_idle_timeout" in str(info.value)


def test_interactive_call_overtakes_a_saturating_background_fanout(sim):
    sim.configure(rpm=300)
    llm_magics.configure(rpm=300)
    background = threading.Thread(
        target=lambda: llm_magics.map([f"bulk {i}" for i in range(2000)], concurrency=64,
                                      priority="bulk", max_retries=0),
        daemon=True,
    )
    background.start()
    time.sleep(3)  # the fan-out now owns the limiter's queue
    limiter = get_engine().limiters[(sim.base_url, "sim-small")]
    assert limiter.queued > 10
    started = time.monotonic()
    r = llm_magics.complete("urgent", priority="interactive")
    waited = time.monotonic() - started
    assert r.text
    slot = 60 / 300
    assert waited < 2 * slot + 0.1, waited
    limiter.set_limits(rpm=600_000, tpm=None)  # let the daemon fan-out drain quickly


def test_retries_and_breaker_transitions_are_logged_without_secrets(sim, caplog):
    caplog.set_level(logging.DEBUG, logger="llm_magics")
    sim.configure(error_rate=1.0)
    with pytest.raises(errors.CircuitOpenError):  # opened after 2 failures: no 3rd attempt
        llm_magics.complete("fail", max_retries=3, backoff_initial_s=0.01, breaker_threshold=2)
    assert sim.stats["chat_requests"] == 2
    text = caplog.text
    assert "retry" in text and "closed -> open" in text
    assert KEY not in text


@pytest.mark.parametrize("max_retries", [0, 2])
def test_a_failing_endpoint_gets_max_retries_plus_one_attempts(sim, max_retries):
    # The first attempt runs outside tenacity; the count of attempts must not change for it.
    stats = CallStats()
    results = llm_magics.map(["STATUS:503 always down"], max_retries=max_retries,
                             backoff_initial_s=0.01, backoff_max_s=0.02,
                             breaker_threshold=10, stats=stats)
    assert isinstance(results[0], errors.ServerError)
    assert stats.attempts == sim.stats["chat_requests"] == max_retries + 1
    assert stats.retries == max_retries
