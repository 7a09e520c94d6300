"""What a client can write into ``/metrics``: model names, when the upstream lists none.

Breakers are kept per model and shown as Prometheus labels. An upstream
without a model list lets any name through to it (the upstream decides), so a
client chooses label values; a quote or a newline in one must not add lines
(fake metrics, or a scrape that fails) to what the operator's monitoring reads,
and inventing names by the thousand must not grow the gateway (or the scrape)
without bound.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
from hostile import KEY_A, lying_upstream

from llm_magics.core.constants import MAX_IDLE_POLICIES
from tests.support.gateway import Gateway

FORGED = 'liar-1"} 0\nllm_magics_gateway_forged 1\n# x{endpoint="'


def test_a_model_name_cannot_add_prometheus_lines(
        make_gateway: Callable[..., Gateway]) -> None:
    with lying_upstream(listing=False) as liar:
        gateway = make_gateway(client_keys=(KEY_A,), upstream=liar)
        headers = {"authorization": f"Bearer {KEY_A}"}
        sent = httpx.post(gateway.base_url + "/chat/completions", headers=headers, json={
            "model": FORGED, "messages": [{"role": "user", "content": "x"}]})
        assert sent.status_code == 400  # the liar refuses every chat
        text = httpx.get(gateway.url + "/metrics?format=prometheus", headers=headers).text
    samples = [line for line in text.splitlines() if line and not line.startswith("# TYPE")]
    assert all(line.startswith("llm_magics_gateway_") for line in samples), samples
    assert not any(line.startswith("llm_magics_gateway_forged") for line in samples)
    (breaker,) = [line for line in samples if line.startswith("llm_magics_gateway_breaker")]
    assert breaker.endswith("} 0")
    assert json.dumps(FORGED)[1:-1] in breaker  # the name, escaped as Prometheus escapes it


def test_invented_model_names_do_not_grow_the_gateway(
        make_gateway: Callable[..., Gateway]) -> None:
    names = 3 * MAX_IDLE_POLICIES
    with lying_upstream(listing=False) as liar:
        gateway = make_gateway(client_keys=(KEY_A,), upstream=liar, rpm=600_000)
        headers = {"authorization": f"Bearer {KEY_A}"}
        with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=30) as client:
            for i in range(names):
                sent = client.post("/chat/completions", json={
                    "model": f"invented-{i}", "messages": [{"role": "user", "content": "x"}]})
                assert sent.status_code == 400  # the liar refuses every chat, by name
            text = client.get(gateway.url + "/metrics?format=prometheus").text
        engine = gateway.state.engine
        assert len(engine.limiters) <= MAX_IDLE_POLICIES
        assert len(engine.breakers) <= MAX_IDLE_POLICIES
        assert ("invented-" + str(names - 1)) in {model for _, model in engine.breakers}
    breakers = [line for line in text.splitlines() if line.startswith("llm_magics_gateway_breaker")]
    assert 0 < len(breakers) <= MAX_IDLE_POLICIES
