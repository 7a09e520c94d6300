"""The simulator's faults for clients' bounds: truncated streams, bodies that are no answer,
huge ``Retry-After`` and stalled headers. Seen from the wire with plain httpx and the SDK."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from openai import OpenAI

from llm_magics.server.sim import SimConfig
from tests.support.sim import Simulator

API_KEY = "sk-test"


def user(text: str, **params: object) -> dict[str, object]:
    return {"model": "sim-small", "messages": [{"role": "user", "content": text}], **params}


def sse_payloads(text: str) -> list[str]:
    return [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]


def post(sim: Simulator, body: dict[str, object],
         timeout: httpx.Timeout | float = 10) -> httpx.Response:
    return httpx.post(f"{sim.base_url}/chat/completions", json=body,
                      headers={"authorization": f"Bearer {API_KEY}"}, timeout=timeout)


def test_truncate_rate_ends_the_stream_cleanly_without_finish_or_done(sim: Simulator) -> None:
    sim.configure(truncate_rate=1.0, answer_tokens=12)
    response = post(sim, user("cut", stream=True))
    assert response.status_code == 200  # the body ended properly: no transport error
    payloads = sse_payloads(response.text)
    assert "[DONE]" not in payloads
    chunks = [json.loads(p) for p in payloads]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    texts = [c["choices"][0]["delta"].get("content") for c in chunks[1:]]
    assert 1 <= len(texts) < 12 and all(texts)


@pytest.mark.parametrize("stream", [False, True])
def test_bad_body_html_is_a_200_page(sim: Simulator, stream: bool) -> None:
    sim.configure(bad_body_rate=1.0)
    response = post(sim, user("page", stream=stream))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        json.loads(response.text)


def test_bad_body_no_choices(sim: Simulator) -> None:
    sim.configure(bad_body_rate=1.0, bad_body="no_choices")
    plain = post(sim, user("empty"))
    assert plain.status_code == 200 and plain.json()["choices"] == []
    streamed = post(sim, user("empty", stream=True))
    payloads = sse_payloads(streamed.text)
    assert payloads[-1] == "[DONE]"
    assert all(json.loads(p)["choices"] == [] for p in payloads[:-1])


def test_bad_body_kind_is_validated() -> None:
    with pytest.raises(ValueError, match="bad_body"):
        SimConfig(bad_body="xml")
    with pytest.raises(ValueError, match="retry_after_s"):
        SimConfig(retry_after_s=-1)


@pytest.mark.parametrize("source", ["fail_status", "directive", "limit"])
def test_retry_after_s_is_sent_on_every_429(sim: Simulator, source: str) -> None:
    sim.configure(retry_after_s=3600)
    if source == "fail_status":
        sim.configure(fail_status=429)
    elif source == "limit":
        sim.configure(rpm=1)
        assert post(sim, user("spend the minute")).status_code == 200
    response = post(sim, user("STATUS:429 x" if source == "directive" else "x"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3600"
    assert response.headers["retry-after-ms"] == "3600000"


def test_stall_headers_holds_even_the_status_line(sim: Simulator, client: OpenAI) -> None:
    sim.configure(stall_headers_s=60)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        post(sim, user("held", stream=True), timeout=httpx.Timeout(10, read=0.5))
    assert time.monotonic() - started < 10
    sim.configure(stall_headers_s=0.2)
    assert client.chat.completions.create(**user("briefly held")).choices[0].message.content


def test_a_client_that_leaves_a_stall_frees_the_server(sim: Simulator) -> None:
    sim.configure(stall_headers_s=60)
    with pytest.raises(openai.APITimeoutError):
        OpenAI(base_url=sim.base_url, api_key=API_KEY, max_retries=0,
               timeout=0.5).chat.completions.create(**user("gone"))
    assert sim.stats["max_in_flight"] == 1  # the held request counted while it was held
    deadline = time.monotonic() + 10
    while sim.stats["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)  # polling the server's own counter, within a wide bound
    assert sim.stats["in_flight"] == 0
