"""``timeout`` bounds each attempt and ``deadline_s`` the whole call, whatever the transport.

Against the real simulator over HTTP (stalled headers) and a raw socket server
that accepts and never answers, or sends headers and stalls, so the bound does
not depend on how our own server misbehaves. Bounds are checked with wide
margins: a 1 s timeout must end well under 10 s while the server holds 60 s.
"""

from __future__ import annotations

import time

import pytest
from raw_http_server import (
    JSON_HEAD,
    SSE_HEAD,
    RawHTTPServer,
    chunked,
    headers_then_stall,
    never_answer,
    respond,
    sse_chunk,
)

import llm_magics
from llm_magics import errors
from tests.support.sim import Simulator

KEY = "sk-bounds-secret-0123456789"
TRANSPORTS = ["aiohttp", "httpx"]
BOUND_S = 10.0  # every bounded call here must end within this, whatever the load

pytestmark = pytest.mark.usefixtures("request_path")  # lean and SDK alike


@pytest.fixture
def sim():
    with Simulator() as server:
        llm_magics.configure(base_url=server.base_url, api_key=KEY, model="sim-small",
                             cache=False, backoff_initial_s=0.05, backoff_max_s=0.2)
        yield server


def timed(fn, *args, **kwargs):
    started = time.monotonic()
    try:
        fn(*args, **kwargs)
    except errors.LLMError as err:
        return err, time.monotonic() - started
    raise AssertionError("the call was expected to fail")


def drain(stream):
    return "".join(stream)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_timeout_bounds_each_attempt_while_the_server_stalls_its_headers(sim, transport):
    sim.configure(stall_headers_s=60)
    err, elapsed = timed(llm_magics.complete, "stalled", timeout=1, max_retries=1,
                         transport=transport)
    assert type(err) is errors.APITimeoutError
    assert "timeout=1s" in err.message and "one attempt" in err.message
    assert elapsed < BOUND_S
    assert sim.stats["chat_requests"] == 2  # the bound fired per attempt, and it was retried


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_timeout_bounds_a_stream_before_its_first_chunk(sim, transport):
    sim.configure(stall_headers_s=60)
    err, elapsed = timed(drain, llm_magics.stream("stalled", timeout=1, max_retries=0,
                                                  transport=transport))
    assert type(err) is errors.APITimeoutError and "timeout=1s" in err.message
    assert elapsed < BOUND_S


def test_read_timeout_stays_a_finer_bound_and_is_named(sim):
    sim.configure(stall_headers_s=60)
    err, elapsed = timed(llm_magics.complete, "stalled", timeout=60, read_timeout=0.5,
                         max_retries=0)
    assert type(err) is errors.APITimeoutError and "read_timeout" in err.message
    assert elapsed < BOUND_S


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_raw_server_that_accepts_and_never_answers(transport):
    with RawHTTPServer(never_answer) as server:
        err, elapsed = timed(llm_magics.complete, "anyone?", base_url=server.base_url,
                             api_key=KEY, model="raw", cache=False, timeout=1, max_retries=0,
                             transport=transport)
    assert type(err) is errors.APITimeoutError and "timeout=1s" in err.message
    assert elapsed < BOUND_S


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_raw_server_that_sends_headers_then_stalls_the_body(transport):
    with RawHTTPServer(headers_then_stall(JSON_HEAD)) as server:
        err, elapsed = timed(llm_magics.complete, "half", base_url=server.base_url,
                             api_key=KEY, model="raw", cache=False, timeout=1, max_retries=0,
                             transport=transport)
    assert type(err) is errors.APITimeoutError and "timeout=1s" in err.message
    assert elapsed < BOUND_S


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_raw_stream_that_opens_then_stalls_before_any_text(transport):
    opener = SSE_HEAD + chunked(sse_chunk(""))  # a role chunk with no text, then nothing
    with RawHTTPServer(headers_then_stall(opener)) as server:
        err, elapsed = timed(drain, llm_magics.stream(
            "half", base_url=server.base_url, api_key=KEY, model="raw", cache=False,
            timeout=1, max_retries=0, transport=transport))
    assert type(err) is errors.APITimeoutError and "timeout=1s" in err.message
    assert elapsed < BOUND_S



def test_a_deadline_that_runs_out_during_a_retry_names_the_failure_before_it():
    """503 first, then an attempt that never answers: the deadline ends that attempt, and its
    error still says why the call needed a second one."""
    body = b'{"error": {"message": "overloaded, try later"}}'
    answered_503 = respond(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json"
                           + f"\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
    behaviours = iter([answered_503])

    async def first_503_then_silence(writer):
        await next(behaviours, never_answer)(writer)

    with RawHTTPServer(first_503_then_silence) as server:
        err, elapsed = timed(llm_magics.complete, "once 503", base_url=server.base_url,
                             api_key=KEY, model="raw", cache=False, deadline_s=1.5,
                             max_retries=5, backoff_initial_s=0.05, backoff_max_s=0.1)
    assert isinstance(err, errors.DeadlineExceededError)
    assert "while waiting for an answer" in err.message  # it ran out mid-attempt, not in a wait
    assert "overloaded, try later" in err.message and err.status_code == 503
    assert server.requests == 2 and elapsed < BOUND_S

def test_deadline_bounds_retries_and_backoff(sim):
    sim.configure(error_rate=1.0)
    err, elapsed = timed(llm_magics.complete, "always 503", max_retries=100, deadline_s=1.5,
                         backoff_initial_s=0.2, backoff_max_s=0.5, breaker_threshold=1000)
    assert isinstance(err, errors.DeadlineExceededError)
    assert isinstance(err, errors.APITimeoutError) and not err.retryable
    assert "deadline_s=1.5" in err.message and "503" in err.message  # the last failure too
    assert elapsed < BOUND_S
    assert 2 <= sim.stats["chat_requests"] < 100


def test_deadline_bounds_a_rate_limit_wait(sim):
    llm_magics.complete("takes the only slot this minute", rpm=1)
    err, elapsed = timed(llm_magics.complete, "no slot left", rpm=1, deadline_s=1)
    assert isinstance(err, errors.DeadlineExceededError) and "rate-limit slot" in err.message
    assert elapsed < BOUND_S
    assert sim.stats["chat_requests"] == 1  # the second call never reached the server


def test_deadline_bounds_a_slow_answer_without_blaming_the_endpoint(sim):
    sim.configure(stall_headers_s=60)
    err, elapsed = timed(llm_magics.complete, "slow", deadline_s=1, max_retries=3,
                         breaker_threshold=1)
    assert isinstance(err, errors.DeadlineExceededError)
    assert "waiting for an answer" in err.message and "deadline_s=1" in err.message
    assert elapsed < BOUND_S
    breaker = llm_magics.status()["endpoints"][f"{sim.base_url} sim-small"]["breaker"]
    assert breaker["state"] == "closed" and breaker["failures"] == 0


def test_deadline_cuts_a_long_stream_and_keeps_its_text(sim):
    sim.configure(answer_tokens=200, token_latency_s=0.05)
    seen: list[str] = []
    started = time.monotonic()
    with pytest.raises(errors.StreamInterruptedError) as info:
        for delta in llm_magics.stream("long", deadline_s=1.5, timeout=30):
            seen.append(delta)
    assert time.monotonic() - started < BOUND_S
    assert seen and info.value.partial_text == "".join(seen)
    assert "deadline_s=1.5" in info.value.message
