"""The simulator's packed answers, read through the OpenAI SDK: one entry per item, its own."""

from __future__ import annotations

import json

import pytest
from openai import OpenAI

from llm_magics.core.packing import pack_rows
from llm_magics.core.types import Request
from llm_magics.server.sim import SimConfig, expected_answer


def packed_body(*prompts: str, **params) -> dict:
    rows = [Request([{"role": "user", "content": p}], "sim-small", "u", params) for p in prompts]
    return pack_rows(rows).request.body()


def entries(client: OpenAI, body: dict) -> list[dict]:
    reply = client.chat.completions.create(**body)
    assert reply.choices[0].finish_reason == "stop"
    return json.loads(reply.choices[0].message.content)["answers"]


def alone(sim, prompt: str) -> str:
    return expected_answer({"model": "sim-small",
                            "messages": [{"role": "user", "content": prompt}]}, sim.config)


def test_each_item_is_answered_as_its_row_alone(client, sim):
    got = entries(client, packed_body("one", "two", "three"))
    assert got == [{"id": str(i), "answer": alone(sim, p)}
                   for i, p in enumerate(("one", "two", "three"), start=1)]


def test_item_directives_drop_duplicate_or_corrupt_only_that_item(client, sim):
    got = entries(client, packed_body("fine", "PACKED:drop a", "PACKED:dup b", "PACKED:bad c"))
    by_id: dict[str, list] = {}
    for entry in got:
        by_id.setdefault(entry["id"], []).append(entry["answer"])
    assert by_id["1"] == [alone(sim, "fine")]
    assert "2" not in by_id
    assert len(by_id["3"]) == 2 and by_id["3"][0] != by_id["3"][1]
    assert not isinstance(by_id["4"][0], str)


def test_fault_rate_picks_the_same_items_for_the_same_seed(client, sim):
    sim.configure(pack_fault_rate=0.5)
    body = packed_body(*[f"item {i}" for i in range(20)])
    first, second = entries(client, body), entries(client, body)
    assert first == second
    clean = [{"id": str(i + 1), "answer": alone(sim, f"item {i}")} for i in range(20)]
    assert first != clean


def test_an_unpacked_request_with_a_packed_directive_is_answered_as_usual(client, sim):
    reply = client.chat.completions.create(
        model="sim-small", messages=[{"role": "user", "content": "PACKED:drop x"}])
    assert reply.choices[0].message.content == alone(sim, "PACKED:drop x")


def test_a_packed_reply_longer_than_max_tokens_is_cut(client):
    reply = client.chat.completions.create(**{**packed_body("a", "b", "c"), "max_tokens": 5})
    assert reply.choices[0].finish_reason == "length"


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_pack_fault_rate_is_a_share(rate):
    with pytest.raises(ValueError, match="pack_fault_rate"):
        SimConfig(pack_fault_rate=rate)
