"""A hostile client against the real gateway over HTTP: bodies, connections, origins, leaks.

Two tenants (keys A and B) share one gateway in front of the simulator; A
misbehaves in every way the wire allows and B must not notice. The
simulator's counters witness that nothing A sent reached the upstream.
Tenancy (files, batches, caches, per-key limits) is in ``test_gateway_tenants``.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest
from hostile import (
    KEY_A,
    KEY_B,
    UPSTREAM_KEY,
    address,
    closed_by_peer,
    connect,
    lying_upstream,
    read_response,
    request_head,
    trickle_until_closed,
)
from openai import OpenAI

from llm_magics.errors import ConfigurationError
from llm_magics.server.gateway import GatewayConfig, create_app
from llm_magics.server.gateway.upstream import Upstream
from tests.support.gateway import Gateway
from tests.support.sim import Simulator
from tests.support.sim import chat_body as user

A = {"authorization": f"Bearer {KEY_A}"}
B = {"authorization": f"Bearer {KEY_B}"}
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def keyed(make_gateway: Callable[..., Gateway]) -> Callable[..., Gateway]:
    def make(**options: object) -> Gateway:
        return make_gateway(client_keys=(KEY_A, KEY_B), **options)
    return make


def chat(gateway: Gateway, body: object, headers: dict[str, str] = A,
         raw: bytes | None = None) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(gateway.base_url + "/chat/completions", content=content, timeout=30,
                      headers={**headers, "content-type": "application/json"})


def error(response: httpx.Response) -> dict:
    return response.json()["error"]


# ------------------------------------------------------------------ 1. the request model

@pytest.mark.parametrize("key, value", [
    ("extra_body", {"model": "gpt-4o"}), ("extra_headers", {"x-evil": "1"}),
    ("extra_query", {"q": "1"}), ("timeout", 1e-6)])
@pytest.mark.parametrize("stream", [False, True])
def test_sdk_only_keys_are_400_and_never_sent(keyed: Callable[..., Gateway], sim: Simulator,
                                              key: str, value: object, stream: bool) -> None:
    gateway = keyed()
    response = chat(gateway, {"model": "sim-small", "messages": MESSAGES, "stream": stream,
                              key: value})
    assert response.status_code == 400, response.text
    assert error(response)["param"] == key and error(response)["code"] == "unsupported_parameter"
    assert "SDK" in error(response)["message"]
    assert sim.stats["chat_requests"] == 0


def test_sdk_extra_body_smuggling_is_refused(keyed: Callable[..., Gateway],
                                             sim: Simulator) -> None:
    with OpenAI(base_url=keyed().base_url, api_key=KEY_A, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(**user("x"), extra_body={"timeout": 0.000001})
        assert info.value.code == "unsupported_parameter"
        with pytest.raises(openai.BadRequestError) as unknown:
            client.chat.completions.create(**user("x"), extra_body={"best_of": 3})
        assert unknown.value.code == "unknown_parameter" and unknown.value.param == "best_of"
    assert sim.stats["chat_requests"] == 0


@pytest.mark.parametrize("field, value, param", [
    ("temperature", 3, "temperature"), ("temperature", "hot", "temperature"),
    ("top_p", -0.1, "top_p"), ("n", 0, "n"), ("max_tokens", True, "max_tokens"),
    ("presence_penalty", 9, "presence_penalty"), ("stop", ["a"] * 5, "stop"),
    ("messages", [{"role": "wizard", "content": "x"}], "messages.0.role"),
    ("messages", [{"role": "user", "content": "x", "secret": 1}], "messages.0.secret"),
    ("stream_options", {"include_usage": True, "x": 1}, "stream_options.x"),
])
def test_wrong_types_and_ranges_are_400(keyed: Callable[..., Gateway], sim: Simulator,
                                        field: str, value: object, param: str) -> None:
    body = {"model": "sim-small", "messages": MESSAGES, field: value}
    response = chat(keyed(), body)
    assert response.status_code == 400, response.text
    assert error(response)["param"] == param
    assert sim.stats["chat_requests"] == 0


def test_every_accepted_field_is_a_documented_sdk_parameter() -> None:
    """What the gateway accepts may reach the SDK's ``create(**body)`` on the stream path:
    each field must be a named request parameter there, and no SDK-only option may pass."""
    from openai.resources.chat.completions import AsyncCompletions

    from llm_magics.server.gateway.chat_model import SDK_ONLY_KEYS, StrictChatRequest

    sdk = set(inspect.signature(AsyncCompletions.create).parameters) - {"self"}
    accepted = set(StrictChatRequest.model_fields)
    assert accepted <= sdk - SDK_ONLY_KEYS, accepted - sdk
    assert SDK_ONLY_KEYS <= sdk  # the names we refuse are exactly the SDK's own options


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_are_400(keyed: Callable[..., Gateway], sim: Simulator,
                                    number: bytes) -> None:
    raw = b'{"model": "sim-small", "messages": [{"role": "user", "content": "x"}], ' \
          b'"temperature": ' + number + b"}"
    response = chat(keyed(), None, raw=raw)
    assert response.status_code == 400
    assert "NaN or Infinity" in error(response)["message"]
    assert sim.stats["chat_requests"] == 0


def test_deep_nesting_is_400_not_500(keyed: Callable[..., Gateway], sim: Simulator) -> None:
    gateway = keyed()
    bomb = chat(gateway, None, raw=b"[" * 100_000)
    assert bomb.status_code == 400 and "nests" in error(bomb)["message"]
    nested: object = "x"
    for _ in range(70):
        nested = {"k": nested}
    deep = chat(gateway, {"model": "sim-small", "messages": MESSAGES, "metadata": nested})
    assert deep.status_code == 400 and "64 levels" in error(deep)["message"]
    assert chat(gateway, {"model": "sim-small", "messages": MESSAGES}).status_code == 200


def test_oversize_body_is_413_without_reading_it(keyed: Callable[..., Gateway],
                                                 sim: Simulator) -> None:
    gateway = keyed(max_body_mb=1)
    with connect(gateway.url) as sock:  # claims 20 MB, sends 64 KB, then waits for an answer
        sock.sendall(request_head("POST", "/v1/chat/completions", {
            "host": "127.0.0.1", **A, "content-type": "application/json",
            "content-length": str(20 * 1024 * 1024)}) + b"x" * 65536)
        status, headers, body = read_response(sock)
        assert status == 413 and headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "request_too_large"

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 65536
    response = httpx.post(gateway.base_url + "/chat/completions", content=chunked(),
                          headers={**A, "content-type": "application/json"})
    assert response.status_code == 413
    with OpenAI(base_url=gateway.base_url, api_key=KEY_A, max_retries=0) as client:
        with pytest.raises(openai.APIStatusError) as info:  # a polite client reads the answer
            client.chat.completions.create(**user("y" * 1_200_000))
        assert info.value.status_code == 413 and "--max-body-mb" in info.value.message
    assert sim.stats["chat_requests"] == 0


def test_trickled_headers_and_silent_connections_are_closed(
        keyed: Callable[..., Gateway]) -> None:
    gateway = keyed(header_timeout_s=0.5)
    with connect(gateway.url) as silent:
        assert closed_by_peer(silent, wait_s=10)
    with connect(gateway.url) as slow:
        slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n")
        started = time.monotonic()
        closed = trickle_until_closed(slow)  # one header line every 0.2 s would take 20 s
        assert closed and time.monotonic() - started < 10


def test_stalled_body_is_408(keyed: Callable[..., Gateway], sim: Simulator) -> None:
    gateway = keyed(body_timeout_s=0.5)
    with connect(gateway.url) as sock:
        sock.sendall(request_head("POST", "/v1/chat/completions", {
            "host": "127.0.0.1", **A, "content-type": "application/json",
            "content-length": "1000"}) + b'{"model": ')
        status, headers, body = read_response(sock)
    assert status == 408 and json.loads(body)["error"]["code"] == "request_timeout"
    assert sim.stats["chat_requests"] == 0


def test_connections_over_the_limit_get_503(keyed: Callable[..., Gateway]) -> None:
    gateway = keyed(max_connections=2, header_timeout_s=30)
    with connect(gateway.url), connect(gateway.url):  # two idle connections fill it
        response = httpx.get(gateway.base_url + "/models", headers=B)
    assert response.status_code == 503
    assert httpx.get(gateway.base_url + "/models", headers=B).status_code == 200


# ------------------------------------------------------------------ 2. the shared breaker

def test_a_clients_bad_requests_never_open_the_shared_breaker(
        fast_retries: None, monkeypatch: pytest.MonkeyPatch, keyed: Callable[..., Gateway],
        sim: Simulator) -> None:
    monkeypatch.setenv("LLM_MAGICS_BREAKER_THRESHOLD", "2")
    gateway = keyed()
    hostile = [
        (None, b'{"model": "sim-small", "messages": [{"role": "user", "content": "x"}], '
               b'"temperature": NaN}'),
        ({"model": "sim-small", "messages": MESSAGES, "timeout": 1e-6, "stream": True}, None),
        ({"model": "sim-small", "messages": MESSAGES, "extra_headers": {"a": "b"}}, None),
        ({"model": "sim-small", "messages": MESSAGES, "extra_body": {"model": "gpt-4o"},
          "stream": True}, None),
        (None, b"[" * 50_000),
    ]
    for _ in range(4):
        for body, raw in hostile:
            assert chat(gateway, body, raw=raw).status_code == 400
    assert sim.stats["chat_requests"] == 0
    answer = chat(gateway, {"model": "sim-small", "messages": MESSAGES}, headers=B)
    assert answer.status_code == 200
    breakers = httpx.get(gateway.url + "/metrics", headers=B).json()["breakers"]
    assert [b["state"] for b in breakers.values()] == ["closed"]


# ------------------------------------------------------------------ 4. keyless = loopback only

def test_keyless_gateway_refuses_a_public_address(sim: Simulator, tmp_path: object) -> None:
    config = GatewayConfig(upstream=sim.base_url, state_dir=tmp_path / "a")  # type: ignore[operator]
    upstream = Upstream(sim.base_url, "sk-x")
    with pytest.raises(ConfigurationError, match="--allow-remote-keyless"):
        create_app(config, upstream, host="0.0.0.0")
    for allowed in (GatewayConfig(upstream=sim.base_url, state_dir=tmp_path / "b",  # type: ignore[operator]
                                  allow_remote_keyless=True),
                    GatewayConfig(upstream=sim.base_url, state_dir=tmp_path / "c",  # type: ignore[operator]
                                  client_keys=(KEY_A,))):
        app = create_app(allowed, upstream, host="0.0.0.0")
        app.gateway.store.close()


def test_foreign_host_origin_and_content_type_are_refused(
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    gateway = make_gateway()  # keyless: any web page could otherwise drive it
    body = json.dumps({"model": "sim-small", "messages": MESSAGES})
    url = gateway.base_url + "/chat/completions"
    rebinding = httpx.post(url, content=body, headers={"host": "evil.example:80",
                                                       "content-type": "application/json"})
    assert rebinding.status_code == 403 and error(rebinding)["code"] == "host_not_allowed"
    assert httpx.get(gateway.url + "/healthz", headers={"host": "evil.example"}).status_code == 403
    foreign = httpx.post(url, content=body, headers={"origin": "https://evil.example",
                                                     "content-type": "text/plain"})
    assert foreign.status_code == 403 and error(foreign)["code"] == "origin_not_allowed"
    plain = httpx.post(url, content=body, headers={"content-type": "text/plain"})
    assert plain.status_code == 415 and error(plain)["code"] == "unsupported_media_type"
    assert sim.stats["chat_requests"] == 0
    local = httpx.post(url, content=body, headers={"host": "localhost:1",
                                                   "content-type": "application/json"})
    assert local.status_code == 200


def test_named_hosts_and_origins_are_served(make_gateway: Callable[..., Gateway]) -> None:
    origin = "https://app.example"
    gateway = make_gateway(allowed_hosts=("gw.internal",), cors_origins=(origin,))
    url = gateway.base_url + "/chat/completions"
    preflight = httpx.options(url, headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    answer = httpx.post(url, json={"model": "sim-small", "messages": MESSAGES},
                        headers={"origin": origin, "host": "gw.internal"})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == origin


# ------------------------------------------------------------------ 5. nothing names the upstream

def _assert_hidden(text: str, upstream_url: str) -> None:
    host, port = address(upstream_url)
    assert UPSTREAM_KEY not in text and f"{host}:{port}" not in text, text


def test_errors_and_metrics_never_name_the_upstream(
        fast_retries: None, monkeypatch: pytest.MonkeyPatch,
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    monkeypatch.setenv("LLM_MAGICS_BREAKER_THRESHOLD", "1")
    monkeypatch.setenv("LLM_MAGICS_BREAKER_COOLDOWN_S", "30")
    gateway = make_gateway(client_keys=(KEY_A,), upstream_key=UPSTREAM_KEY,
                           metrics_key="sk-scraper")
    sim.configure(fail_status=500)
    seen = [chat(gateway, {"model": "sim-small", "messages": MESSAGES}) for _ in range(3)]
    assert [r.status_code for r in seen][-1] == 503
    assert error(seen[-1])["code"] == "upstream_circuit_open"
    scraper = {"authorization": "Bearer sk-scraper"}
    for response in (*seen, httpx.get(gateway.url + "/metrics", headers=scraper),
                     httpx.get(gateway.url + "/metrics?format=prometheus", headers=A)):
        _assert_hidden(response.text + str(response.headers), sim.base_url)
    with lying_upstream() as liar:
        lied_to = make_gateway(client_keys=(KEY_A,), upstream=liar, upstream_key=UPSTREAM_KEY)
        response = chat(lied_to, {"model": "liar-1", "messages": MESSAGES})
        assert response.status_code == 400 and "the upstream" in error(response)["message"]
        _assert_hidden(response.text, liar)


def test_metrics_needs_a_client_key_or_the_metrics_key(
        make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(client_keys=(KEY_A,), metrics_key="sk-scraper")
    scraper = {"authorization": "Bearer sk-scraper"}
    assert httpx.get(gateway.url + "/metrics").status_code == 401
    assert httpx.get(gateway.url + "/metrics", headers=A).status_code == 200
    assert httpx.get(gateway.url + "/metrics", headers=scraper).status_code == 200
    assert httpx.get(gateway.base_url + "/models", headers=scraper).status_code == 401
    keyless = make_gateway(metrics_key="sk-scraper")
    assert httpx.get(keyless.url + "/metrics").status_code == 401
    assert httpx.get(keyless.base_url + "/models").status_code == 200
