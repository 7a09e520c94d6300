"""``/healthz`` and ``/metrics``: what an operator reads to see the shared limits at work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.batch_api import line, start_batch, wait
from tests.support.gateway import Gateway
from tests.support.sim import Simulator
from tests.support.sim import chat_body as user


def metrics(gateway: Gateway) -> dict:
    return httpx.get(gateway.url + "/metrics").json()


def test_healthz(gateway: Gateway) -> None:
    response = httpx.get(gateway.url + "/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_statuses_429s_retries_and_breaker(
        fast_retries: None, monkeypatch: pytest.MonkeyPatch,
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    monkeypatch.setenv("LLM_MAGICS_MAX_RETRIES", "0")
    monkeypatch.setenv("LLM_MAGICS_BREAKER_THRESHOLD", "2")
    monkeypatch.setenv("LLM_MAGICS_BREAKER_COOLDOWN_S", "30")
    gateway = make_gateway(cache=False)
    with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as client:
        client.chat.completions.create(**user("fine"))
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(**user("x", model="gpt-imaginary"))
        sim.configure(fail_status=429)
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(**user("limited"))
        assert limited.value.response.headers.get("retry-after")
        sim.configure(fail_status=503)
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(**user("down"))
        with pytest.raises(openai.InternalServerError) as fast:
            client.chat.completions.create(**user("fail fast"))
        assert fast.value.code == "upstream_circuit_open"
    data = metrics(gateway)
    assert data["requests"]["by_status"] == {"200": 1, "404": 1, "429": 1, "503": 3}
    assert data["requests"]["rate_limited"] == 1
    assert data["requests"]["total"] == 7  # the six calls and this /metrics request
    assert data["upstream"]["rate_limited"] == 1
    assert data["upstream"]["attempts"] == sim.stats["chat_requests"] == 4
    [breaker] = data["breakers"].values()
    assert breaker["state"] == "open" and breaker["failures"] == 2

    text = httpx.get(gateway.url + "/metrics?format=prometheus").text
    samples = dict(ln.rsplit(" ", 1) for ln in text.splitlines() if not ln.startswith("#"))
    assert samples['llm_magics_gateway_responses_total{status="429"}'] == "1"
    assert any(k.startswith("llm_magics_gateway_breaker_state{") and v == "2"
               for k, v in samples.items())
    assert samples["llm_magics_gateway_upstream_rate_limited_total"] == "1"


def test_queue_depth_and_batches_in_progress(make_gateway: Callable[..., Gateway],
                                             sim: Simulator) -> None:
    gateway = make_gateway(rpm=60, cache=False)  # burst of one, then one per second
    seen_waiting: list[int] = []

    def call(i: int) -> None:
        with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as c:
            c.chat.completions.create(**user(f"queued {i}"))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not seen_waiting:
        waiting = metrics(gateway)["queue"]["limiter_waiting"]
        if waiting >= 2:
            seen_waiting.append(waiting)
        time.sleep(0.02)
    for t in threads:
        t.join()
    assert seen_waiting, "two requests should have waited in the limiter's queue"
    assert metrics(gateway)["queue"]["limiter_waiting"] == 0

    with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as client:
        batch_id = start_batch(client, [line(f"l{i}", user(f"b{i}")) for i in range(3)])
        assert metrics(gateway)["batches"]["in_progress"] == 1
        batch, _ = wait(client, batch_id)
    assert batch.status == "completed"
    final = metrics(gateway)
    assert final["batches"] == {"in_progress": 0, "lines_finished": 3}
