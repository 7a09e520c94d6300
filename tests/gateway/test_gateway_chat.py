"""Chat completions through the gateway with the official SDK: JSON, SSE, cache, priority."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from llm_magics.server.sim import SimConfig, expected_answer
from tests.support.gateway import Gateway
from tests.support.sim import Simulator
from tests.support.sim import chat_body as user
from tests.support.waiting import wait_until


def test_complete_returns_the_upstream_answer(client: OpenAI, sim: Simulator) -> None:
    body = user("hello gateway", max_tokens=5)
    completion = client.chat.completions.create(**body)
    assert completion.choices[0].message.content == expected_answer(body, SimConfig())
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert sim.stats["chat_requests"] == 1


def test_identical_requests_share_one_cache(make_gateway: Callable[..., Gateway],
                                            sim: Simulator) -> None:
    gateway = make_gateway(share_cache=True)  # the hit/miss header is shown only then
    client = OpenAI(base_url=gateway.base_url, api_key="sk-any", max_retries=0)
    body = user("cache me")
    first = client.chat.completions.with_raw_response.create(**body)
    second = client.chat.completions.with_raw_response.create(**body)
    assert first.headers["x-llm-cache"] == "miss" and second.headers["x-llm-cache"] == "hit"
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(**body, stream=True) if c.choices
    )
    assert streamed == first.parse().choices[0].message.content
    assert sim.stats["chat_requests"] == 1  # the second call and the stream came from the cache
    assert httpx.get(gateway.url + "/metrics").json()["cache"]["hits"] == 2


def test_no_cache_sends_every_request(make_gateway: Callable[..., Gateway],
                                      sim: Simulator) -> None:
    gateway = make_gateway(cache=False)
    with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as client:
        for _ in range(3):
            client.chat.completions.create(**user("same again"))
    assert sim.stats["chat_requests"] == 3


def test_stream_relays_each_token_as_it_arrives(client: OpenAI, sim: Simulator) -> None:
    sim.configure(token_latency_s=0.05, answer_tokens=8)
    body = user("pace me")
    arrivals: list[float] = []
    pieces: list[str] = []
    usage = None
    for chunk in client.chat.completions.create(**body, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == expected_answer(body, SimConfig(answer_tokens=8))
    assert len(pieces) == 8  # one SSE event per upstream delta, none merged
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) > 0.025, gaps  # not buffered: each token came on its own
    assert arrivals[-1] - arrivals[0] > 0.25
    assert usage is not None and usage.completion_tokens == 8


def test_sse_wire_format(gateway: Gateway, sim: Simulator) -> None:
    sim.configure(answer_tokens=3)
    with httpx.stream("POST", gateway.base_url + "/chat/completions",
                      json=user("wire", stream=True)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [ln for ln in response.iter_lines() if ln]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert len({c["id"] for c in chunks}) == 1


def test_stream_refused_upstream_gets_a_real_status(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(**user("x", model="no-such-model"), stream=True)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(**user("STATUS:400 refuse"), stream=True)
    assert "STATUS" in refused.value.message


def test_stream_with_extra_choices_is_refused_not_truncated(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(**user("two please"), n=2, stream=True)
    assert info.value.param == "n"
    assert len(client.chat.completions.create(**user("two please"), n=2).choices) == 2


def test_upstream_faults_are_retried_inside_the_gateway(
        fast_retries: None, make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    gateway = make_gateway(cache=False)
    sim.configure(error_rate=0.3, seed=7)
    with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as client:
        answers = [client.chat.completions.create(**user(f"flaky {i}")) for i in range(20)]
    assert all(a.choices[0].message.content for a in answers)
    upstream = httpx.get(gateway.url + "/metrics").json()["upstream"]
    assert sim.stats["server_errors"] > 0
    assert upstream["retries"] == sim.stats["server_errors"]


def test_concurrency_bounds_upstream_calls(make_gateway: Callable[..., Gateway],
                                           sim: Simulator) -> None:
    gateway = make_gateway(concurrency=2, cache=False)
    sim.configure(latency_s=0.15)

    async def burst() -> None:
        async with AsyncOpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as c:
            await asyncio.gather(*(c.chat.completions.create(**user(f"c{i}")) for i in range(6)))

    started = time.perf_counter()
    asyncio.run(burst())
    assert sim.stats["max_in_flight"] == 2 and sim.stats["chat_ok"] == 6
    assert time.perf_counter() - started >= 0.45  # three waves of two


def test_interactive_requests_jump_the_bulk_queue(make_gateway: Callable[..., Gateway],
                                                  sim: Simulator) -> None:
    gateway = make_gateway(rpm=240, cache=False)  # one slot every 0.25 s, burst of 4
    finished: list[str] = []

    async def run() -> None:
        async with AsyncOpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as c:
            async def call(name: str, priority: str) -> None:
                await c.chat.completions.create(
                    **user(name), extra_headers={"X-LLM-Priority": priority})
                finished.append(name)

            bulk = [asyncio.ensure_future(call(f"bulk-{i}", "bulk")) for i in range(8)]
            await asyncio.sleep(0.3)  # the burst is spent; the rest of the bulk calls queue
            await call("urgent", "interactive")
            await asyncio.gather(*bulk)

    asyncio.run(run())
    assert len(finished) == 9
    assert finished.index("urgent") <= 5, finished  # ahead of the queued bulk calls


def test_bad_priority_header_is_a_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(**user("x"), extra_headers={"X-LLM-Priority": "asap"})
    assert info.value.param == "X-LLM-Priority"


def test_models_are_proxied(client: OpenAI, sim: Simulator) -> None:
    assert [m.id for m in client.models.list()] == sim.config.models
    assert client.models.retrieve("sim-large").id == "sim-large"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


@pytest.mark.parametrize("stream", [False, True])
def test_client_leaving_a_queued_request_spends_no_upstream_call(
        make_gateway: Callable[..., Gateway], sim: Simulator, stream: bool) -> None:
    gateway = make_gateway(rpm=60, cache=False)  # burst of 1, then one per second
    with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as client:
        client.chat.completions.create(**user("spend the burst"))
        with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0,
                    timeout=0.2) as impatient, pytest.raises(openai.APITimeoutError):
            impatient.chat.completions.create(**user("gives up while queued"), stream=stream)
        time.sleep(1.3)  # the slot it waited for has come and gone
    assert sim.stats["chat_requests"] == 1
    metrics = httpx.get(gateway.url + "/metrics").json()
    assert metrics["requests"]["by_status"].get("499") == 1
    assert metrics["queue"]["slots_in_use"] == 0


def test_stream_broken_upstream_ends_with_an_error_event(client: OpenAI, sim: Simulator) -> None:
    # Paced tokens, as a real model sends them: a drop that arrives in the same read as
    # the last tokens can take those tokens with it (noted as a known edge).
    sim.configure(answer_tokens=12, token_latency_s=0.02)
    body = user("DROP:4 break me")
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(**body, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert len(pieces) == 4  # what arrived before the break was relayed
    assert "broke" in info.value.message


def test_client_leaving_a_stream_releases_the_upstream(make_gateway: Callable[..., Gateway],
                                                        sim: Simulator) -> None:
    gateway = make_gateway(cache=False)
    sim.configure(token_latency_s=0.05, answer_tokens=200)
    with httpx.stream("POST", gateway.base_url + "/chat/completions",
                      json=user("a long story", stream=True)) as response:
        lines = response.iter_lines()
        while "content" not in next(lines):
            pass
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and sim.stats["in_flight"]:
        time.sleep(0.02)
    assert sim.stats["in_flight"] == 0  # the upstream stream was closed, not left running
    assert httpx.get(gateway.url + "/metrics").json()["queue"]["slots_in_use"] == 0


def test_the_stream_head_comes_as_soon_as_the_upstream_accepts(gateway: Gateway,
                                                               sim: Simulator) -> None:
    # The client reads the head and sets up its stream while the model works on its first
    # token (a real model's prefill): the head does not wait for that token.
    sim.configure(latency_s=3.0, answer_tokens=2)
    started = time.monotonic()
    with httpx.stream("POST", gateway.base_url + "/chat/completions",
                      json=user("take your time", stream=True), timeout=30) as response:
        head_after = time.monotonic() - started
        assert response.status_code == 200
        text = "".join(line for line in response.iter_lines() if '"content":"' in line)
        first_token_after = time.monotonic() - started
    assert text and first_token_after >= 3.0
    assert head_after < first_token_after - 1.5, (head_after, first_token_after)


def test_leaving_after_the_head_before_the_first_token_releases_the_upstream(
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    gateway = make_gateway(cache=False)
    sim.configure(latency_s=30.0)
    with httpx.stream("POST", gateway.base_url + "/chat/completions",
                      json=user("never mind", stream=True), timeout=30) as response:
        assert response.status_code == 200  # the head, then the client leaves
    wait_until(lambda: not sim.stats["in_flight"], timeout=10,
               what=lambda: f"the upstream request closed (sim stats {sim.stats})")
    wait_until(lambda: not httpx.get(gateway.url + "/metrics").json()["queue"]["slots_in_use"],
               timeout=10, what="the gateway's slot released")


def test_a_stream_that_breaks_before_its_first_token_every_time_is_an_error_event(
        fast_retries: None, make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    gateway = make_gateway(cache=False)
    sim.configure(drop_before_first_token_rate=1.0)
    client = OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0, timeout=30)
    with pytest.raises(openai.APIError) as info:
        for _ in client.chat.completions.create(**user("doomed"), stream=True):
            pass
    # After the 200 head the engine's last error comes as an event (the breaker's, here).
    assert not isinstance(info.value, openai.APIStatusError)
    assert "fail" in info.value.message or "connection" in info.value.message.lower()
    assert sim.stats["drops"] > 1  # retried upstream before giving up
