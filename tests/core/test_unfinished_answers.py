"""An answer that did not finish is never a success and never cached; what arrived is kept.

Truncated streams (no finish_reason, no [DONE]), 200s that are no answer
(HTML, JSON or SSE without choices) come from the simulator's fault switches;
a connection cut right after a burst of tokens comes from a raw socket server.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from raw_http_server import (
    SSE_HEAD,
    RawHTTPServer,
    chunked,
    json_response,
    respond,
    sse_chunk,
)

import llm_magics
from llm_magics import errors
from llm_magics.core.endpoint import Endpoint
from llm_magics.core.engine import Engine
from llm_magics.core.settings import resolve
from llm_magics.core.types import Request
from llm_magics.core.wire import close_connections
from llm_magics.server.sim import SimConfig, expected_answer
from tests.support.sim import Simulator

KEY = "sk-unfinished-secret-0123456789"
TRANSPORTS = ["aiohttp", "httpx"]
LOOP_TURNS = 20


@pytest.fixture
def sim(request_path):
    with Simulator(answer_tokens=20) as server:
        llm_magics.configure(base_url=server.base_url, api_key=KEY, model="sim-small",
                             backoff_initial_s=0.02, backoff_max_s=0.1)
        yield server


def body(prompt: str) -> dict:
    return {"model": "sim-small", "messages": [{"role": "user", "content": prompt}]}


def test_a_truncated_stream_keeps_its_text_and_is_not_cached(sim):
    sim.configure(truncate_rate=1.0)
    seen: list[str] = []
    with pytest.raises(errors.StreamInterruptedError, match="without a finish_reason") as info:
        for delta in llm_magics.stream("cut me"):
            seen.append(delta)
    assert seen and info.value.partial_text == "".join(seen)
    full = expected_answer(body("cut me"), SimConfig(answer_tokens=20))
    assert full.startswith(info.value.partial_text) and info.value.partial_text != full

    sim.configure(truncate_rate=0.0)
    before = sim.stats["chat_requests"]
    answer = llm_magics.complete("cut me")
    assert sim.stats["chat_requests"] == before + 1  # went to the server: nothing was cached
    assert not answer.cached and answer.text == full
    assert llm_magics.complete("cut me").cached  # a finished answer is


def test_a_stream_that_ends_before_any_text_is_retried_as_a_server_error(sim):
    sim.configure(bad_body_rate=1.0, bad_body="no_choices")  # SSE + [DONE], but no choice
    with pytest.raises(errors.ServerError, match="without a finish_reason"):
        "".join(llm_magics.stream("empty", max_retries=2))
    assert sim.stats["chat_requests"] == 3

    sim.configure(bad_body_rate=0.0)
    before = sim.stats["chat_requests"]
    assert llm_magics.complete("empty").text
    assert sim.stats["chat_requests"] == before + 1


def test_a_non_sse_200_on_a_stream_is_a_retried_server_error(sim):
    sim.configure(bad_body_rate=1.0, bad_body="html")
    with pytest.raises(errors.ServerError, match="not server-sent events") as info:
        "".join(llm_magics.stream("html please", max_retries=1))
    assert "text/html" in info.value.message and "Sign in" in info.value.message
    assert sim.stats["chat_requests"] == 2


def test_some_bad_bodies_among_good_ones_are_retried_to_a_full_answer(sim):
    sim.configure(bad_body_rate=0.5, seed=11)
    for i in range(6):
        s = llm_magics.stream(f"flaky {i}", max_retries=8, breaker_threshold=50)
        assert "".join(s) == s.response.text == expected_answer(body(f"flaky {i}"),
                                                                SimConfig(answer_tokens=20))
    assert sim.stats["chat_requests"] > 6  # some bad bodies really came, and were retried


@pytest.mark.parametrize("kind", ["html", "no_choices"])
def test_a_200_that_is_no_answer_is_retried_and_never_cached(sim, kind):
    sim.configure(bad_body_rate=1.0, bad_body=kind)
    with pytest.raises(errors.ServerError):
        llm_magics.complete("no answer", max_retries=1)
    assert sim.stats["chat_requests"] == 2

    sim.configure(bad_body_rate=0.0)
    assert not llm_magics.complete("no answer").cached
    assert sim.stats["chat_requests"] == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_token_received_before_a_cut_is_kept(transport, request_path):
    """The consumer is busy while the rest arrives and the connection breaks (a relay
    writing to a slow client): what arrived meanwhile must still come out. (With the
    SDK's stream over aiohttp only the first token came out: its reader raises the
    error before handing out what it had buffered.)"""
    tokens = [f" t{i}" for i in range(10)]
    paused, sent = threading.Event(), threading.Event()

    async def burst_then_cut(writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + chunked(sse_chunk("")) + chunked(sse_chunk(tokens[0])))
        await writer.drain()
        await asyncio.to_thread(paused.wait, 10)
        for token in tokens[1:]:
            writer.write(chunked(sse_chunk(token)))
            await writer.drain()
        writer.close()  # the body's terminating chunk never comes
        sent.set()

    async def consume(base_url: str) -> tuple[list[str], errors.StreamInterruptedError]:
        settings = resolve(base_url=base_url, api_key=KEY, model="raw", cache=False,
                           transport=transport, max_retries=0)
        request = Request([{"role": "user", "content": "burst"}], "raw", base_url)
        seen: list[str] = []
        stream = Engine().stream(request, Endpoint(base_url, "raw", KEY), settings)
        try:
            with pytest.raises(errors.StreamInterruptedError) as info:
                async for item in stream:
                    seen.append(item)
                    if len(seen) == 1:
                        # Busy, not reading, until the rest and the end of the connection
                        # are in: block this loop while the server sends, then let the loop
                        # take the bytes in (a few turns, for the data and then the EOF).
                        paused.set()
                        sent.wait(10)
                        for _ in range(LOOP_TURNS):
                            await asyncio.sleep(0)
        finally:
            await close_connections()
        return seen, info.value

    with RawHTTPServer(burst_then_cut) as server:
        seen, err = asyncio.run(consume(server.base_url))
    assert seen == tokens
    assert err.partial_text == "".join(tokens)


def test_a_stream_with_a_finish_but_no_done_is_answered_but_not_cached():
    """The text is whole (finish_reason came) but the stream did not end as the protocol
    says: the caller gets the answer, the cache does not, so a re-run asks again."""
    body = (SSE_HEAD + chunked(sse_chunk("")) + chunked(sse_chunk("whole"))
            + chunked(sse_chunk(finish="stop")) + b"0\r\n\r\n")
    with RawHTTPServer(respond(body)) as server:
        options = {"base_url": server.base_url, "api_key": KEY, "model": "raw"}
        for _ in range(2):
            s = llm_magics.stream("no done", **options)
            assert "".join(s) == "whole" and s.response.finish_reason == "stop"
        assert server.requests == 2


def test_an_answer_without_a_finish_reason_is_returned_but_not_cached():
    answer = {"id": "c1", "object": "chat.completion", "model": "raw",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "maybe cut"},
                           "finish_reason": None}]}
    with RawHTTPServer(respond(json_response(answer))) as server:
        options = {"base_url": server.base_url, "api_key": KEY, "model": "raw"}
        assert llm_magics.complete("unsure", **options).text == "maybe cut"
        assert not llm_magics.complete("unsure", **options).cached
        assert server.requests == 2


def test_a_malformed_chunk_that_echoes_the_key_never_shows_it():
    body = SSE_HEAD + chunked(sse_chunk("")) + chunked(f"data: echo {KEY}\n\n".encode())
    with RawHTTPServer(respond(body)) as server:
        with pytest.raises(errors.ServerError, match="not JSON") as info:
            "".join(llm_magics.stream("echo", base_url=server.base_url, api_key=KEY,
                                      model="raw", max_retries=0))
    assert KEY not in info.value.message and "***" in info.value.message
