"""The public calls against the real simulator over HTTP, through the real OpenAI SDK."""

from __future__ import annotations

import asyncio
import time

import pytest

import llm_magics
from llm_magics import errors
from llm_magics.server.sim.answers import expected_answer


@pytest.fixture(autouse=True)
def use_sim(sim):
    sim.configure(latency_s=0, token_latency_s=0, error_rate=0, drop_rate=0, rpm=None,
                  answer_tokens=16)
    llm_magics.configure(base_url=sim.base_url, api_key="sk-test-secret-key-000", model="sim-small")


def requests_seen(sim) -> int:
    return sim.stats["chat_requests"]


def test_complete_returns_the_servers_answer_with_usage_and_latency(sim):
    r = llm_magics.complete("Name a colour", cache=False)
    body = {"model": "sim-small", "messages": [{"role": "user", "content": "Name a colour"}]}
    assert r.text == expected_answer(body, sim.config)
    assert r.model == "sim-small"
    assert r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.latency_s > 0 and not r.cached
    assert r.cost_usd is None  # sim-small has no price


def test_known_model_has_a_cost(sim):
    r = llm_magics.complete("hello", model="gpt-4o-mini", cache=False)
    assert r.cost_usd is not None and r.cost_usd > 0


def test_second_identical_call_is_served_from_the_cache(sim):
    before = requests_seen(sim)
    first = llm_magics.complete("cache me please")
    second = llm_magics.complete("cache me please")
    assert second.cached and second.text == first.text
    assert requests_seen(sim) - before == 1


def test_complete_works_inside_a_running_event_loop(sim):
    async def notebook_cell():
        return llm_magics.complete("from inside a loop", cache=False)

    assert asyncio.run(notebook_cell()).text


def test_acomplete_from_a_foreign_loop(sim):
    async def main():
        return await asyncio.gather(*(llm_magics.acomplete(f"q{i}", cache=False)
                                      for i in range(5)))

    texts = [r.text for r in asyncio.run(main())]
    assert len(set(texts)) == 5


def test_stream_gives_several_deltas_that_join_to_the_response(sim):
    sim.configure(answer_tokens=20)
    s = llm_magics.stream("stream this", cache=False)
    deltas = list(s)
    assert len(deltas) > 1
    assert "".join(deltas) == s.response.text == s.text
    assert s.response.ttft_s is not None and s.response.ttft_s <= s.response.latency_s
    assert s.response.usage.completion_tokens > 0


def test_astream(sim):
    async def main():
        s = llm_magics.astream("async stream", cache=False)
        return [d async for d in s], s

    deltas, s = asyncio.run(main())
    assert len(deltas) > 1 and "".join(deltas) == s.response.text


def test_map_keeps_input_order_and_puts_errors_in_their_slot(sim):
    prompts = [f"item {i}" for i in range(40)]
    prompts[7] = ""  # empty prompt: an error value, not a crash
    results = llm_magics.map(prompts, concurrency=8, cache=False)
    assert len(results) == 40
    assert isinstance(results[7], errors.InvalidRequestError)
    for i, r in enumerate(results):
        if i != 7:
            body = {"model": "sim-small", "messages": [{"role": "user", "content": prompts[i]}]}
            assert r.text == expected_answer(body, sim.config)


def test_map_sends_identical_prompts_once(sim):
    before = requests_seen(sim)
    results = llm_magics.map(["same"] * 10 + ["other"], cache=False)
    assert requests_seen(sim) - before == 2
    assert len({r.text for r in results[:10]}) == 1


def test_map_respects_concurrency(sim):
    sim.configure(latency_s=0.05)
    sim.reset_stats()
    llm_magics.map([f"c{i}" for i in range(40)], concurrency=5, cache=False)
    assert sim.stats["max_in_flight"] <= 5


# -- errors a user meets first ---------------------------------------------------------------
def test_empty_prompt_is_a_clear_error_before_any_call(sim):
    before = requests_seen(sim)
    with pytest.raises(errors.InvalidRequestError, match="prompt is empty"):
        llm_magics.complete("   ")
    assert requests_seen(sim) == before


def test_unknown_model_names_the_fix(sim):
    with pytest.raises(errors.ModelNotFoundError, match="model="):
        llm_magics.complete("hi", model="no-such-model", cache=False)


def test_unreachable_base_url_names_the_fix():
    with pytest.raises(errors.APIConnectionError, match="base_url") as info:
        llm_magics.complete("hi", base_url="http://127.0.0.1:9/v1", max_retries=0, cache=False)
    assert info.value.__cause__ is None or "httpx" not in type(info.value.__cause__).__module__
    assert "sk-test-secret" not in str(info.value)


def test_missing_key_for_openai_names_the_fix():
    llm_magics.core.settings.reset()
    with pytest.raises(errors.ConfigurationError, match="OPENAI_API_KEY"):
        llm_magics.complete("hi", base_url="https://api.openai.com/v1", cache=False)


def test_bad_request_is_not_retried(sim):
    before = requests_seen(sim)
    with pytest.raises(errors.InvalidRequestError) as info:
        llm_magics.complete("STATUS:400 please", cache=False, max_retries=5)
    assert info.value.status_code == 400
    assert requests_seen(sim) - before == 1


def test_rejected_key_never_appears_in_the_error(sim):
    with pytest.raises(errors.AuthenticationError) as info:
        llm_magics.complete("STATUS:401", cache=False)
    assert "sk-test-secret-key-000" not in str(info.value)
    assert "sk-test-secret-key-000" not in repr(info.value)


def test_status_shows_breaker_and_limiter(sim):
    llm_magics.complete("status please", cache=False)
    snap = llm_magics.status()
    entry = next(v for k, v in snap["endpoints"].items() if sim.base_url in k)
    assert entry["breaker"]["state"] == "closed"
    assert snap["totals"]["completed"] >= 1


def test_stream_interrupt_by_close_keeps_partial_text(sim):
    sim.configure(answer_tokens=200, token_latency_s=0.01)
    s = llm_magics.stream("long answer", cache=False)
    got = [next(s) for _ in range(5)]
    s.close()
    assert s.text == "".join(got)
    time.sleep(0.05)


def test_map_keeps_the_server_body_only_when_asked(sim):
    prompts = [f"body {i}" for i in range(3)]
    lean = llm_magics.map(prompts, cache=False)
    full = llm_magics.map(prompts, cache=False, keep_raw=True)
    assert [r.text for r in lean] == [r.text for r in full]
    assert all(r.raw is None for r in lean)  # text, usage and cost only
    assert [r.raw["choices"][0]["message"]["content"] for r in full] == [r.text for r in full]
    assert all(r.usage.total_tokens > 0 for r in lean)
