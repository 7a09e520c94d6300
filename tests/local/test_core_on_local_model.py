"""The library on the real local model, the way a new user meets it: no key, no base URL."""

from __future__ import annotations

import asyncio

import llm_magics
from llm_magics import local


def test_no_key_means_the_local_model_answers(server):
    r = llm_magics.complete("What is the capital of France? Answer in one word.",
                            max_tokens=16, cache=False)
    assert r.text.strip()
    assert r.model  # whatever the server calls itself
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.cost_usd is None  # a local model has no price
    assert local.status()["running"]


def test_stream_on_the_local_model_has_deltas_and_ttft(server):
    s = llm_magics.stream("Count from one to ten in words.", max_tokens=40, cache=False)
    deltas = list(s)
    assert len(deltas) >= 3
    assert "".join(deltas) == s.response.text
    assert 0 < s.response.ttft_s < s.response.latency_s


def test_map_keeps_order_on_the_local_model(server):
    prompts = [f"Repeat the number {i}." for i in range(4)]
    results = llm_magics.map(prompts, max_tokens=8, cache=False, concurrency=8)
    assert [type(r).__name__ for r in results] == ["Response"] * 4
    assert all(r.text.strip() for r in results)


def test_structured_output_request_is_adapted_for_llama_cpp(server):
    schema = {"type": "json_schema", "json_schema": {"name": "c", "schema": {
        "type": "object", "properties": {"colour": {"type": "string"}},
        "required": ["colour"]}}}
    r = llm_magics.complete("Name a colour as JSON.", response_format=schema, max_tokens=80,
                            cache=False)
    import json

    assert isinstance(json.loads(r.text), dict)


def test_complete_inside_a_running_loop_on_the_local_model(server):
    async def cell():
        return llm_magics.complete("Say yes.", max_tokens=4, cache=False)

    assert asyncio.run(cell()).text.strip()
