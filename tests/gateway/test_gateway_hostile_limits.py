"""Token estimates a hostile client controls must not freeze the limiter every tenant shares.

The shared TPM limiter takes each request's estimate (prompt + ``max_tokens``)
before the call and corrects it with the real usage after. A request the
upstream refuses, or one that could never fit the limit, must not leave that
estimate taken: the bucket would stay in debt and every tenant would wait
while it refills.
"""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest
from hostile import KEY_A, KEY_B
from openai import OpenAI

from tests.support.batch_api import jsonl, line, start_batch, wait
from tests.support.gateway import Gateway
from tests.support.sim import Simulator
from tests.support.sim import chat_body as user

SHARED_TPM = 60_000
"""1,000 tokens a second: a 50,000-token debt would hold everyone for most of a minute."""


def client(gateway: Gateway, key: str) -> OpenAI:
    return OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)


def test_a_request_the_upstream_refuses_gives_its_tokens_back(
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    sim.configure(context_tokens=100)
    gateway = make_gateway(client_keys=(KEY_A, KEY_B), tpm=SHARED_TPM)
    with client(gateway, KEY_A) as a, client(gateway, KEY_B) as b:
        for _ in range(2):  # ~50,000 estimated tokens each, refused upstream at once
            with pytest.raises(openai.BadRequestError) as refused:
                a.chat.completions.create(**user("word " * 40_000), max_tokens=1)
            assert "maximum context length" in refused.value.message
        answer = b.chat.completions.create(**user("my turn"), max_tokens=4)  # 20 s at most
    assert answer.choices[0].message.content


def test_a_request_larger_than_the_shared_tpm_is_refused_before_it_is_queued(
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    gateway = make_gateway(client_keys=(KEY_A, KEY_B), tpm=SHARED_TPM)
    with client(gateway, KEY_A) as a, client(gateway, KEY_B) as b:
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as too_big:
                a.chat.completions.create(**user("x"), max_tokens=10**9, stream=stream)
            assert too_big.value.code == "tokens_exceed_gateway_limit"
            assert too_big.value.param == "max_tokens"
            assert f"{SHARED_TPM}" in too_big.value.message
        assert sim.stats["chat_requests"] == 0
        answer = b.chat.completions.create(**user("my turn"), max_tokens=4)
    assert answer.choices[0].message.content


def test_every_choice_counts_against_the_key_tpm(make_gateway: Callable[..., Gateway],
                                                 sim: Simulator) -> None:
    gateway = make_gateway(client_keys=(KEY_A,), key_tpm=1_000)
    with client(gateway, KEY_A) as a:
        with pytest.raises(openai.BadRequestError) as too_big:  # 100 answers of 50 tokens
            a.chat.completions.create(**user("x"), max_tokens=50, n=100)
        assert too_big.value.code == "tokens_exceed_key_limit"
        assert a.chat.completions.create(**user("x"), max_tokens=50, n=2).choices
    assert sim.stats["chat_requests"] == 1


def test_a_batch_line_larger_than_the_shared_tpm_fails_alone(
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    gateway = make_gateway(client_keys=(KEY_A,), tpm=SHARED_TPM)
    with client(gateway, KEY_A) as a:
        batch_id = start_batch(a, [line("huge", user("x", max_tokens=10**9)),
                                   line("fine", user("y", max_tokens=4))])
        batch, _ = wait(a, batch_id)
        assert batch.status == "completed"
        assert [r["custom_id"] for r in jsonl(a, batch.output_file_id)] == ["fine"]
        (failed,) = jsonl(a, batch.error_file_id)
    assert failed["custom_id"] == "huge" and failed["response"]["status_code"] == 400
    assert failed["response"]["body"]["error"]["code"] == "tokens_exceed_gateway_limit"
    assert sim.stats["chat_requests"] == 1
