"""Requests are checked before anything is sent: NaN, unknown keywords, SDK-only options.

The simulator's request counter is the witness that nothing went out; a
second, stdlib server records the JSON bodies that did.
"""

from __future__ import annotations

import asyncio
import decimal
import math

import pytest
from recording_server import ANSWER, RecordingServer

import llm_magics
from llm_magics import errors
from llm_magics.core.request_fields import known_fields

KEY = "sk-validation-secret-0123456789"


@pytest.fixture(autouse=True)
def use_sim(sim):
    sim.configure(latency_s=0, error_rate=0, rpm=None, answer_tokens=8)
    llm_magics.configure(base_url=sim.base_url, api_key=KEY, model="sim-small", cache=False)


def sent(sim) -> int:
    return sim.stats["chat_requests"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_temperature_is_refused_before_sending(sim, value):
    before = sent(sim)
    with pytest.raises(errors.InvalidRequestError, match="temperature.*NaN or infinity"):
        llm_magics.complete("hi", temperature=value)
    assert sent(sim) == before


def test_ten_nan_calls_leave_the_breaker_closed_for_the_next_good_call(sim):
    before = sent(sim)
    for _ in range(10):
        with pytest.raises(errors.InvalidRequestError):
            llm_magics.complete("hi", temperature=float("nan"), max_retries=3)
    good = llm_magics.complete("a good call after the bad ones")
    assert good.text
    assert sent(sim) - before == 1  # the NaN calls were never sent, let alone retried
    endpoint = next(v for k, v in llm_magics.status()["endpoints"].items() if sim.base_url in k)
    assert endpoint["breaker"]["state"] == "closed"


def test_nan_deep_inside_messages_is_refused_with_where_it_is(sim):
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi", "w": math.nan}]}]
    with pytest.raises(errors.InvalidRequestError, match=r"messages\[0\]\['content'\]\[0\]"):
        llm_magics.complete(messages)


def test_a_bad_message_is_an_error_in_its_map_slot_and_the_rest_are_answered(sim):
    before = sent(sim)
    prompts = ["one", [{"role": "user", "content": "two", "score": math.inf}], "three"]
    results = llm_magics.map(prompts)
    assert isinstance(results[1], errors.InvalidRequestError)
    assert results[0].text and results[2].text
    assert sent(sim) - before == 2


@pytest.mark.parametrize("value", [object(), decimal.Decimal("0.5"), {1.5: "x"}, {"k": {1, 2}}])
def test_values_json_cannot_carry_are_refused_with_the_fix(sim, value):
    before = sent(sim)
    with pytest.raises(errors.InvalidRequestError, match="JSON"):
        llm_magics.complete("hi", metadata=value)
    assert sent(sim) == before


def test_a_list_that_contains_itself_is_refused_not_a_recursion_error(sim):
    loop: list = []
    loop.append(loop)
    with pytest.raises(errors.InvalidRequestError, match="nested deeper"):
        llm_magics.complete("hi", stop=loop)


def test_a_typo_in_a_map_setting_is_refused_with_the_closest_name(sim):
    before = sent(sim)
    with pytest.raises(errors.InvalidRequestError, match="did you mean `rpm`") as info:
        llm_magics.map(["a", "b"], rmp=500)
    assert "extra_body" in str(info.value)  # and how to send a field on purpose
    assert sent(sim) == before


def test_a_typo_in_a_request_field_is_refused_with_the_closest_name(sim):
    with pytest.raises(errors.InvalidRequestError, match="did you mean `temperature`"):
        llm_magics.complete("hi", temprature=0)


def test_a_typo_in_a_call_keyword_is_refused_with_the_closest_name(sim):
    with pytest.raises(errors.InvalidRequestError, match="did you mean `system`"):
        llm_magics.complete("hi", sytem="be brief")


@pytest.mark.parametrize("name, hint", [
    ("extra_headers", "SDK option"), ("extra_query", "SDK option"),
    ("stream", "stream()"), ("messages", "first argument"),
])
def test_sdk_only_and_reserved_keywords_are_refused_with_what_to_do(sim, name, hint):
    before = sent(sim)
    with pytest.raises(errors.InvalidRequestError, match=hint.replace("(", r"\(").replace(
            ")", r"\)")):
        llm_magics.complete("hi", **{name: {"x": "1"} if name.startswith("extra") else True})
    assert sent(sim) == before


def test_stream_refuses_nan_before_sending(sim):
    before = sent(sim)
    with pytest.raises(errors.InvalidRequestError, match="NaN"):
        list(llm_magics.stream("hi", top_p=float("nan")))
    assert sent(sim) == before


def test_astream_refuses_a_typo_before_sending(sim):
    async def consume():
        return [d async for d in llm_magics.astream("hi", max_tokns=5)]

    with pytest.raises(errors.InvalidRequestError, match="did you mean `max_tokens`"):
        asyncio.run(consume())


def test_amap_refuses_a_typo_before_sending(sim):
    with pytest.raises(errors.InvalidRequestError, match="did you mean `tpm`"):
        asyncio.run(llm_magics.amap(["a"], tmp=100))


def test_configure_suggests_the_closest_setting():
    with pytest.raises(errors.ConfigurationError, match="did you mean `rpm`"):
        llm_magics.configure(rmp=500)


def test_every_documented_chat_completions_field_is_accepted():
    from openai.types.chat.completion_create_params import CompletionCreateParamsBase

    documented = set(CompletionCreateParamsBase.__annotations__)
    assert documented - known_fields() == {"model", "messages", "stream_options"}
    assert {"temperature", "max_tokens", "seed", "response_format", "tools"} <= known_fields()


# -- extra_body: what reaches the wire -----------------------------------------------------------
@pytest.fixture
def recorder():
    with RecordingServer() as server:
        llm_magics.configure(base_url=server.base_url)
        yield server


def test_extra_body_is_merged_into_the_json_body(recorder):
    r = llm_magics.complete("hi", temperature=0, extra_body={"top_k": 40, "min_p": 0.1})
    assert r.text == ANSWER
    body = recorder.bodies[-1]
    assert body["top_k"] == 40 and body["min_p"] == 0.1 and body["temperature"] == 0
    assert "extra_body" not in body


def test_extra_body_is_merged_into_a_streamed_request_too(recorder):
    s = llm_magics.stream("hi", extra_body={"top_k": 7})
    assert "".join(s) == ANSWER
    body = recorder.bodies[-1]
    assert body["stream"] is True and body["top_k"] == 7 and "extra_body" not in body


def test_extra_body_reaches_every_row_of_a_map(recorder):
    results = llm_magics.map(["a", "b", "c"], extra_body={"repeat_penalty": 1.1})
    assert [r.text for r in results] == [ANSWER] * 3
    assert [b["repeat_penalty"] for b in recorder.bodies] == [1.1] * 3


def test_extra_body_cannot_change_the_model(recorder):
    with pytest.raises(errors.InvalidRequestError, match="extra_body cannot set `model`"):
        llm_magics.complete("hi", extra_body={"model": "another-model"})
    assert recorder.bodies == []


def test_extra_body_values_are_checked_like_any_field(recorder):
    with pytest.raises(errors.InvalidRequestError, match=r"top_k is nan"):
        llm_magics.complete("hi", extra_body={"top_k": float("nan")})
    assert recorder.bodies == []


def test_extra_body_must_be_a_dict(recorder):
    with pytest.raises(errors.InvalidRequestError, match="extra_body must be a dict"):
        llm_magics.complete("hi", extra_body=[("top_k", 1)])
