"""Real-model tier: the gateway in front of the embedded llama.cpp server (SmolLM2).

``--upstream local`` gives the local model everything the hosted API has and
llama.cpp lacks: the Batch API (so the library's batch mode works offline),
shared limits and a cache. Answers are short (``max_tokens`` 8) to keep the
tier quick on a CPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

import llm_magics
import llm_magics.batch as library_batch
from llm_magics import local
from llm_magics.server.gateway import GatewayConfig, resolve_upstream
from tests.support.batch_api import jsonl, line, start_batch, wait
from tests.support.gateway import Gateway
from tests.support.local_model import missing_reason

_REASON = missing_reason()
if _REASON:  # the real-model tier must run, never be skipped quietly
    pytest.fail(f"embedded local model not installed: {_REASON}", pytrace=False)

MAX_TOKENS = 8


@pytest.fixture(scope="module")
def local_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state_dir = tmp_path_factory.mktemp("gateway-local-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(local.STATE_DIR_ENV, str(state_dir))
        local.start()
        yield state_dir
        local.stop()


@pytest.fixture(scope="module")
def local_gateway(local_state: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Gateway]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(local.STATE_DIR_ENV, str(local_state))
        upstream = resolve_upstream("local", None)  # finds the server started above
        config = GatewayConfig(upstream="local", state_dir=tmp_path_factory.mktemp("gw"),
                               cache=False, concurrency=2)
        with Gateway(config, upstream) as gateway:
            yield gateway


@pytest.fixture
def client(local_gateway: Gateway, local_state: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAI]:
    monkeypatch.setenv(local.STATE_DIR_ENV, str(local_state))
    with OpenAI(base_url=local_gateway.base_url, api_key="k", max_retries=0, timeout=120) as c:
        yield c


def test_upstream_local_is_the_running_model(local_gateway: Gateway) -> None:
    assert local_gateway.upstream.local
    assert local_gateway.upstream.base_url.startswith("http://127.0.0.1:")
    assert local_gateway.upstream.served_model == local.DEFAULT_MODEL_ID


def test_complete_with_any_model_name(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": "Name a colour."}])
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert 0 < completion.usage.completion_tokens <= MAX_TOKENS


def test_stream_from_the_local_model(client: OpenAI) -> None:
    pieces: list[str] = []
    finish = usage = None
    for chunk in client.chat.completions.create(
            model="smollm2", max_tokens=MAX_TOKENS, stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "Count to five."}]):
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces).strip()
    assert sum(1 for p in pieces if p) >= 2  # tokens arrived as separate events
    assert finish in ("length", "stop")
    assert usage is not None and 0 < usage.completion_tokens <= MAX_TOKENS


def test_batch_lifecycle_on_the_local_model(client: OpenAI) -> None:
    prompts = {"red": "Say red.", "blue": "Say blue.", "green": "Say green."}
    batch_id = start_batch(client, [
        line(cid, {"model": "gpt-4o-mini", "max_tokens": MAX_TOKENS,
                   "messages": [{"role": "user", "content": text}]})
        for cid, text in prompts.items()
    ])
    batch, seen = wait(client, batch_id, timeout=120)
    assert batch.status == "completed", (seen, batch.errors)
    assert (batch.request_counts.total, batch.request_counts.completed) == (3, 3)
    rows = jsonl(client, batch.output_file_id)
    assert sorted(r["custom_id"] for r in rows) == sorted(prompts)
    for row in rows:
        body = row["response"]["body"]
        assert row["response"]["status_code"] == 200
        assert body["choices"][0]["message"]["content"].strip()
        assert 0 < body["usage"]["completion_tokens"] <= MAX_TOKENS


def test_library_batch_mode_against_the_local_model(local_gateway: Gateway,
                                                    client: OpenAI) -> None:
    llm_magics.configure(base_url=local_gateway.base_url, api_key="k", model="gpt-4o-mini")
    job = library_batch.submit(["Say yes.", "Say no."], max_tokens=MAX_TOKENS,
                               cache=False).wait(poll=0.1)
    results = job.results()
    assert job.status().state == "completed"
    assert all(isinstance(r, llm_magics.Response) and r.text.strip() for r in results)
