"""Chat completions against the in-thread simulator, through the official OpenAI SDK."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Literal

import httpx
import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel, Field

from llm_magics.server.sim import DEFAULT_MODELS, SimConfig, expected_answer
from tests.support.sim import Simulator


def user(text: str, model: str = "sim-small", **params: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **params}


# ----------------------------------------------------------------- models


def test_models_list_and_retrieve(client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == list(DEFAULT_MODELS)
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.code == "model_not_found"


def test_models_are_configurable() -> None:
    with Simulator(models=["tiny", "huge"]) as sim:
        c = OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
        assert [m.id for m in c.models.list()] == ["tiny", "huge"]
        assert c.chat.completions.create(**user("hi", model="tiny")).model == "tiny"


# ----------------------------------------------------------------- answers


def test_non_stream_answer_is_the_expected_text(client: OpenAI, sim: Simulator) -> None:
    request = user("Summarise backpressure.")
    completion = client.chat.completions.create(**request)
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == expected_answer(request, sim.config)
    assert choice.finish_reason == "stop"
    assert completion.id.startswith("chatcmpl-")
    assert completion.usage.completion_tokens == sim.config.answer_tokens == 16
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_answers_are_deterministic_and_depend_on_the_request(client: OpenAI) -> None:
    def ask(**request: object) -> str:
        return client.chat.completions.create(**request).choices[0].message.content

    first = ask(**user("one"))
    assert ask(**user("one")) == first
    assert ask(**user("two")) != first
    assert ask(**user("one", model="sim-large")) != first
    digest = first.split()[0]
    assert digest.startswith("sim-") and len(digest) == 12


def test_answer_tokens_switch_sets_the_length(client: OpenAI, sim: Simulator) -> None:
    sim.configure(answer_tokens=5)
    completion = client.chat.completions.create(**user("short please"))
    assert len(completion.choices[0].message.content.split()) == 5
    assert completion.usage.completion_tokens == 5


def test_stream_deltas_join_to_the_non_stream_text(client: OpenAI) -> None:
    request = user("Write a haiku about backpressure.")
    whole = client.chat.completions.create(**request)
    chunks = list(
        client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    deltas = [d for d in deltas if d]
    assert len(deltas) == 16
    assert "".join(deltas) == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.completion_tokens == whole.usage.completion_tokens
    assert usage_chunk.usage.prompt_tokens == whole.usage.prompt_tokens
    assert len({c.id for c in chunks}) == 1


def test_stream_without_include_usage_has_no_usage_chunk(client: OpenAI) -> None:
    chunks = list(client.chat.completions.create(**user("hi"), stream=True))
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


def test_max_tokens_cuts_with_finish_reason_length(client: OpenAI, sim: Simulator) -> None:
    request = user("long answer", max_tokens=4)
    completion = client.chat.completions.create(**request)
    text = completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 4
    assert text == expected_answer(request, sim.config)
    assert expected_answer(user("long answer"), sim.config).startswith(text)
    streamed = list(client.chat.completions.create(**request, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == text
    assert streamed[-1].choices[0].finish_reason == "length"
    newer = client.chat.completions.create(**user("long answer", max_completion_tokens=2))
    assert newer.usage.completion_tokens == 2
    assert newer.choices[0].finish_reason == "length"


def test_max_tokens_above_answer_length_is_not_a_cut(client: OpenAI) -> None:
    completion = client.chat.completions.create(**user("x", max_tokens=100))
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 16


def test_n_choices(client: OpenAI, sim: Simulator) -> None:
    request = user("pick", n=3)
    completion = client.chat.completions.create(**request)
    texts = [c.message.content for c in completion.choices]
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert texts == [expected_answer(request, sim.config, i) for i in range(3)]
    assert len(set(texts)) == 3
    assert completion.usage.completion_tokens == 48


def test_echo_directive_returns_text_verbatim(client: OpenAI) -> None:
    text = "  exact {text} with  spaces\nand lines "
    completion = client.chat.completions.create(**user("ECHO: " + text))
    assert completion.choices[0].message.content == text
    streamed = client.chat.completions.create(**user("ECHO: " + text), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == text


def test_directives_read_the_last_user_message_only(client: OpenAI) -> None:
    messages = [
        {"role": "system", "content": "ECHO: system"},
        {"role": "user", "content": "ECHO: first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "ECHO: second"}]},
    ]
    completion = client.chat.completions.create(model="sim-small", messages=messages)
    assert completion.choices[0].message.content == "second"


def test_tokens_and_sleep_directives(client: OpenAI) -> None:
    start = time.perf_counter()
    completion = client.chat.completions.create(**user("SLEEP:0.2 TOKENS:3 hello"))
    assert time.perf_counter() - start >= 0.2
    assert completion.usage.completion_tokens == 3


# ----------------------------------------------------------------- structured output


class Address(BaseModel):
    city: str
    zip_code: str = Field(min_length=5, max_length=5)


class Review(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    score: float = Field(ge=0, le=1)
    stars: int = Field(ge=1, le=5)
    tags: list[str]
    verified: bool
    address: Address
    note: str | None = None


def test_json_schema_answer_validates(client: OpenAI) -> None:
    schema = Review.model_json_schema()
    completion = client.chat.completions.create(
        **user("Classify: great!"),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "Review", "schema": schema, "strict": True},
        },
    )
    review = Review.model_validate_json(completion.choices[0].message.content)
    assert review.label == "positive"  # enums take their first value
    assert 0 <= review.score <= 1 and 1 <= review.stars <= 5
    assert len(review.address.zip_code) == 5 and review.tags


def test_sdk_parse_with_pydantic_model(client: OpenAI) -> None:
    parsed = client.chat.completions.parse(
        model="sim-small",
        messages=[{"role": "user", "content": "Classify: fine"}],
        response_format=Review,
    )
    review = parsed.choices[0].message.parsed
    assert isinstance(review, Review)
    assert review.label == "positive"


def test_json_object_and_badjson(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        **user("give json"), response_format={"type": "json_object"}
    )
    value = json.loads(completion.choices[0].message.content)
    assert set(value) == {"answer", "digest"}
    bad = client.chat.completions.create(
        **user("BADJSON: oops"), response_format={"type": "json_object"}
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.choices[0].message.content)


# ----------------------------------------------------------------- errors


def test_unknown_model_is_404_model_not_found(client: OpenAI, sim: Simulator) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(**user("hi", model="gpt-9"))
    assert info.value.status_code == 404
    assert info.value.code == "model_not_found"
    assert "gpt-9" in info.value.message
    assert sim.stats["status_counts"] == {"404": 1}


def test_empty_messages_is_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="sim-small", messages=[])
    assert info.value.param == "messages"
    assert info.value.body["type"] == "invalid_request_error"


def test_invalid_bodies_are_400(sim: Simulator) -> None:
    url = sim.base_url + "/chat/completions"
    not_json = httpx.post(url, content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 400
    assert set(not_json.json()["error"]) == {"message", "type", "param", "code"}
    missing = httpx.post(url, json={"messages": [{"role": "user", "content": "x"}]})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"
    zero = httpx.post(url, json=user("x", max_tokens=0))
    assert zero.status_code == 400 and zero.json()["error"]["param"] == "max_tokens"


def test_unknown_route_is_openai_shaped_404(sim: Simulator) -> None:
    response = httpx.post(sim.base_url + "/chat/completion", json={})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (POST /v1/chat/completion)"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_status_directive_forces_that_status(
    client: OpenAI, sim: Simulator, status: int, error: type[openai.APIStatusError]
) -> None:
    with pytest.raises(error) as info:
        client.chat.completions.create(**user(f"STATUS:{status} please fail"))
    assert info.value.status_code == status
    assert info.value.body["message"]
    assert sim.stats["status_counts"] == {str(status): 1}


def test_fail_status_switch_fails_every_request(client: OpenAI, sim: Simulator) -> None:
    sim.configure(fail_status=500)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(**user("hi"))
    sim.configure(fail_status=None)
    assert client.chat.completions.create(**user("hi")).choices
    assert sim.stats["server_errors"] == 3 and sim.stats["chat_ok"] == 1


def test_api_key_switch_requires_the_key() -> None:
    with Simulator(api_key="sk-right") as sim:
        wrong = OpenAI(base_url=sim.base_url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            wrong.models.list()
        assert info.value.code == "invalid_api_key"
        right = OpenAI(base_url=sim.base_url, api_key="sk-right", max_retries=0)
        assert right.chat.completions.create(**user("hi")).choices
        assert "sk-right" not in json.dumps(sim.config.as_dict())


# ----------------------------------------------------------------- rate limits

RESET_FORMAT = r"^(\d+ms|\d+(\.\d+)?s|\d+m\d+(\.\d+)?s)$"


def test_rpm_limit_gives_real_429_with_headers(client: OpenAI, sim: Simulator) -> None:
    sim.configure(rpm=3)
    remaining = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(**user("hi"))
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-reset-requests"]
        remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [2, 1, 0]
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**user("hi"))
    err = info.value
    headers = err.response.headers
    assert err.status_code == 429
    assert err.code == "rate_limit_exceeded" and err.type == "requests"
    assert 1 <= int(headers["retry-after"]) <= 20  # one request refills in 60/3 = 20 s
    assert int(headers["retry-after-ms"]) > 0
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert re.match(RESET_FORMAT, headers["x-ratelimit-reset-requests"])
    assert sim.stats["rate_limited"] == 1 and sim.stats["chat_ok"] == 3
    assert sim.stats["accepted"] == 3  # refused calls are not accepted


def test_rpm_limits_are_per_model(client: OpenAI, sim: Simulator) -> None:
    sim.configure(rpm=1)
    client.chat.completions.create(**user("a"))
    client.chat.completions.create(**user("a", model="sim-large"))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**user("a"))


def test_tpm_limit_counts_prompt_and_max_tokens(client: OpenAI, sim: Simulator) -> None:
    sim.configure(tpm=100)
    raw = client.chat.completions.with_raw_response.create(**user("hi", max_tokens=60))
    assert raw.headers["x-ratelimit-limit-tokens"] == "100"
    used = 100 - int(raw.headers["x-ratelimit-remaining-tokens"])
    assert used >= 60
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**user("hi", max_tokens=60))
    assert info.value.type == "tokens"
    with pytest.raises(openai.RateLimitError) as too_big:
        client.chat.completions.create(**user("hi", max_tokens=500))
    assert "too large" in too_big.value.message


def test_rpm_bucket_refills_over_time(client: OpenAI, sim: Simulator) -> None:
    sim.configure(rpm=600)  # 10 per second come back
    for _ in range(600):
        sim.app.sim.limiter.check("sim-small", 1)  # drain the bucket directly
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**user("hi"))
    assert int(info.value.response.headers["retry-after-ms"]) <= 100
    time.sleep(0.15)
    assert client.chat.completions.create(**user("hi")).choices


# ----------------------------------------------------------------- injected faults


def test_error_rate_gives_503_at_the_configured_share(sim: Simulator) -> None:
    sim.configure(error_rate=0.3)
    total = 200

    async def run() -> list[int]:
        async with openai.AsyncOpenAI(
            base_url=sim.base_url, api_key="sk-test", max_retries=0
        ) as ac:
            gate = asyncio.Semaphore(16)

            async def one(i: int) -> int:
                async with gate:
                    try:
                        await ac.chat.completions.create(**user(f"q{i}"))
                        return 200
                    except openai.APIStatusError as exc:
                        return exc.status_code

            return await asyncio.gather(*(one(i) for i in range(total)))

    statuses = asyncio.run(run())
    failures = statuses.count(503)
    assert set(statuses) == {200, 503}
    assert 0.2 * total <= failures <= 0.4 * total
    assert sim.stats["server_errors"] == failures
    assert sim.stats["status_counts"]["503"] == failures


def test_faults_are_reproducible_with_a_seed(client: OpenAI, sim: Simulator) -> None:
    def pattern() -> list[bool]:
        outcome = []
        for i in range(30):
            try:
                client.chat.completions.create(**user(f"q{i}"))
                outcome.append(True)
            except openai.InternalServerError:
                outcome.append(False)
        return outcome

    sim.configure(error_rate=0.5, seed=7)
    first = pattern()
    sim.reset("run")  # rewinds the dice to the seed
    assert pattern() == first
    assert True in first and False in first


def test_drop_rate_breaks_the_stream_mid_way(client: OpenAI, sim: Simulator) -> None:
    sim.configure(drop_rate=1.0)
    received: list[str] = []
    with pytest.raises((openai.APIConnectionError, httpx.TransportError)):
        for chunk in client.chat.completions.create(**user("hi"), stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert 1 <= len(received) < 16
    assert sim.stats["drops"] == 1
    time.sleep(0.05)
    assert sim.stats["in_flight"] == 0


def test_drop_directive_and_drop_before_first_token(client: OpenAI, sim: Simulator) -> None:
    received = []
    with pytest.raises((openai.APIConnectionError, httpx.TransportError)):
        for chunk in client.chat.completions.create(**user("DROP:3 hi"), stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert len(received) == 3
    sim.configure(drop_before_first_token_rate=1.0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(**user("hi"))
    assert sim.stats["drops"] == 2
    # the stream had sent its 200 headers before dropping; the other call got nothing
    assert sim.stats["status_counts"] == {"200": 1}


def test_malformed_chunk_makes_the_sdk_raise(client: OpenAI, sim: Simulator) -> None:
    sim.configure(malformed_rate=1.0)
    received = []
    with pytest.raises(json.JSONDecodeError):
        for chunk in client.chat.completions.create(**user("hi"), stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert 0 < len(received) < 16
    assert sim.stats["malformed"] == 1


def test_hang_causes_a_client_timeout(sim: Simulator) -> None:
    sim.configure(hang_rate=1.0)
    impatient = OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0, timeout=0.3)
    start = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(**user("hi"))
    assert 0.3 <= time.perf_counter() - start < 2
    assert sim.stats["hangs"] == 1
    deadline = time.monotonic() + 2
    while sim.stats["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.stats["in_flight"] == 0  # the server noticed the client left


def test_hang_max_s_bounds_a_hang(client: OpenAI, sim: Simulator) -> None:
    sim.configure(hang_max_s=0.2)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(**user("HANG: hi"))
    assert info.value.status_code == 504


def test_stop_releases_hung_requests_quickly() -> None:
    sim = Simulator(hang_rate=1.0).start()
    c = OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0, timeout=30)

    async def hang_then_stop() -> None:
        task = asyncio.create_task(asyncio.to_thread(c.chat.completions.create, **user("hi")))
        await asyncio.sleep(0.2)
        start = time.perf_counter()
        sim.stop()
        assert time.perf_counter() - start < 3
        with pytest.raises(openai.APIError):
            await task

    asyncio.run(hang_then_stop())
    assert not sim.running


# ----------------------------------------------------------------- latency and load


def test_latency_and_token_latency(client: OpenAI, sim: Simulator) -> None:
    sim.configure(latency_s=0.15)
    start = time.perf_counter()
    client.chat.completions.create(**user("hi"))
    assert time.perf_counter() - start >= 0.15
    sim.configure(latency_s=0.0, token_latency_s=0.02, answer_tokens=10)
    start = time.perf_counter()
    stamps = []
    for chunk in client.chat.completions.create(**user("hi"), stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter() - start)
    assert len(stamps) == 10
    assert stamps[-1] >= 0.18 and stamps[-1] - stamps[0] >= 0.15  # tokens arrive paced


def test_concurrency_is_visible_in_max_in_flight(sim: Simulator) -> None:
    sim.configure(latency_s=0.2)

    async def run() -> None:
        async with openai.AsyncOpenAI(
            base_url=sim.base_url, api_key="sk-test", max_retries=0
        ) as ac:
            await asyncio.gather(*(ac.chat.completions.create(**user(f"{i}")) for i in range(8)))

    start = time.perf_counter()
    asyncio.run(run())
    assert time.perf_counter() - start < 1.2  # concurrent, not serial (8 x 0.2 s = 1.6 s)
    stats = sim.stats
    assert stats["max_in_flight"] == 8 and stats["in_flight"] == 0
    times = stats["accepted_times"]
    assert len(times) == 8 and max(times) - min(times) < 0.5  # all accepted together


def test_async_stream(aclient: openai.AsyncOpenAI, sim: Simulator) -> None:
    request = user("async please")

    async def run() -> str:
        stream = await aclient.chat.completions.create(**request, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream])

    assert asyncio.run(run()) == expected_answer(request, sim.config)


# ----------------------------------------------------------------- control plane


def test_control_endpoints(client: OpenAI, sim: Simulator) -> None:
    client.chat.completions.create(**user("hi"))
    list(client.chat.completions.create(**user("hi", model="gpt-4o"), stream=True))
    stats = httpx.get(sim.url + "/_sim/stats").json()
    assert stats["requests"] == 2 and stats["chat_requests"] == 2
    assert stats["chat_streams"] == 1 and stats["chat_ok"] == 2
    assert stats["per_model"] == {"sim-small": 1, "gpt-4o": 1}
    assert stats["status_counts"] == {"200": 2}
    assert stats["completion_tokens"] == 32 and len(stats["accepted_times"]) == 2
    assert "accepted_times" not in httpx.get(sim.url + "/_sim/stats?times=false").json()

    changed = httpx.post(sim.url + "/_sim/config", json={"answer_tokens": 3, "rpm": 0})
    assert changed.status_code == 200
    assert changed.json()["answer_tokens"] == 3 and changed.json()["rpm"] is None
    assert client.chat.completions.create(**user("hi")).usage.completion_tokens == 3
    assert httpx.get(sim.url + "/_sim/config").json()["answer_tokens"] == 3

    bad = httpx.post(sim.url + "/_sim/config", json={"answr_tokens": 3})
    assert bad.status_code == 400 and "answr_tokens" in bad.json()["error"]["message"]
    assert httpx.post(sim.url + "/_sim/config", json={"error_rate": 2}).status_code == 400

    reset = httpx.post(sim.url + "/_sim/reset", params={"scope": "stats"}).json()
    assert reset["requests"] == 0 and reset["chat_requests"] == 0
    assert sim.stats["accepted_times"] == []
    assert sim.config.answer_tokens == 3  # switches survive a stats reset
    assert httpx.post(sim.url + "/_sim/reset", params={"scope": "all"}).status_code == 200
    assert sim.config.answer_tokens == 16
    assert httpx.post(sim.url + "/_sim/reset", params={"scope": "nope"}).status_code == 400


def test_configure_rejects_bad_switches(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown"):
        sim.configure(no_such_switch=1)
    with pytest.raises(ValueError):
        sim.configure(drop_rate=-0.1)
    assert sim.config == SimConfig()
