"""The lean request path sends what the SDK sends and fails the way the SDK path fails.

The SDK path (``request_path="sdk"``) is the reference: each check runs a call
on both paths against the same independent server and compares what reached
the wire (body, headers) and the error each raised (class, message, status,
``Retry-After``, request id), for plain calls and streams, on both transports.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import time

import openai
import pytest
from raw_http_server import JSON_HEAD, RawHTTPServer, respond
from recording_server import ANSWER, RecordingServer

import llm_magics
from llm_magics import errors

KEY = "sk-paths-secret-0123456789"
PATHS = ("lean", "sdk")
TRANSPORTS = ("aiohttp", "httpx")
# Set by the HTTP library, not by the caller: they may differ between the two.
TRANSPORT_HEADERS = {"host", "content-length", "accept-encoding", "connection"}


def call(server_url: str, path: str, transport: str, *, stream: bool = False, **options):
    settings = {"base_url": server_url, "api_key": KEY, "model": "m", "cache": False,
                "max_retries": 0, "request_path": path, "transport": transport, **options}
    if stream:
        return "".join(llm_magics.stream("hello", **settings))
    return llm_magics.complete("hello", **settings).text


def outcome(server_url: str, path: str, transport: str, **options) -> tuple:
    try:
        call(server_url, path, transport, **options)
    except errors.LLMError as err:
        return (type(err), err.message, err.status_code, err.retry_after_s, err.request_id,
                err.body)
    raise AssertionError("the call was expected to fail")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_both_paths_send_the_same_body_and_headers(monkeypatch, transport, stream):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-paths")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_paths")
    with RecordingServer() as server:
        for path in PATHS:
            assert call(server.base_url, path, transport, stream=stream, temperature=0,
                        priority="high") == ANSWER
    lean, sdk = server.headers
    assert server.bodies[0] == server.bodies[1]
    assert server.bodies[0]["temperature"] == 0 and server.bodies[0].get("stream") is (
        True if stream else None)
    assert lean["authorization"] == f"Bearer {KEY}"
    assert lean["openai-organization"] == "org-paths"
    assert lean["openai-project"] == "proj_paths"
    assert lean["user-agent"] == f"AsyncOpenAI/Python {openai.__version__}"
    assert lean["x-llm-priority"] == "high"
    assert lean["content-type"] == "application/json"
    assert "idempotency-key" not in lean and "idempotency-key" not in sdk
    own = {k: v for k, v in lean.items() if k not in TRANSPORT_HEADERS}
    assert own == {k: v for k, v in sdk.items() if k not in TRANSPORT_HEADERS}


def error_reply(status: int, body: bytes, **headers: str):
    def reply(request_body, request_headers):
        return status, {"Content-Type": "application/json", **headers}, body
    return reply


def message(text: str) -> bytes:
    return json.dumps({"error": {"message": text, "type": "x", "code": "y"}}).encode()


HTTP_DATE = email.utils.formatdate(time.time() + 3600, usegmt=True)
ERRORS = {
    "400 with a message": error_reply(400, message("temperature is out of range")),
    "401": error_reply(401, message("Incorrect API key provided: " + KEY)),
    "403": error_reply(403, message("no access")),
    "404": error_reply(404, message("The model `m` does not exist")),
    "408": error_reply(408, b""),
    "409": error_reply(409, message("conflict")),
    "422 without a message": error_reply(422, b'{"detail": [{"loc": ["body"]}]}'),
    "429 Retry-After seconds": error_reply(429, message("slow down"), **{"Retry-After": "0.2"}),
    "429 retry-after-ms": error_reply(429, message("slow down"), **{"retry-after-ms": "150"}),
    "429 Retry-After an hour": error_reply(429, message("quota"), **{"Retry-After": "3600"}),
    "429 Retry-After a date": error_reply(429, message("quota"), **{"Retry-After": HTTP_DATE}),
    "500 plain text": error_reply(500, b"Internal Server Error\n"),
    "502 empty": error_reply(502, b""),
    "503 with a request id": error_reply(503, message("overloaded"),
                                         **{"x-request-id": "req_123"}),
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", list(ERRORS))
def test_a_status_error_is_the_same_error_on_both_paths(case, transport, stream):
    with RecordingServer(ERRORS[case]) as server:
        lean, sdk = (outcome(server.base_url, path, transport, stream=stream) for path in PATHS)
    if "date" in case:  # seconds left until the date: a moment apart between the two calls
        assert abs(lean[3] - sdk[3]) < 60
        lean, sdk = lean[:3] + lean[4:], sdk[:3] + sdk[4:]
        assert lean[1].split("(429")[0] == sdk[1].split("(429")[0]
    else:
        assert lean == sdk
    assert KEY not in lean[1]
    assert len(server.bodies) == 2  # max_retries=0: one request per path


def test_the_status_mapping_covers_what_a_caller_branches_on():
    with RecordingServer(ERRORS["429 Retry-After seconds"]) as server:
        kind, text, status, retry_after, _, body = outcome(server.base_url, "lean", "aiohttp")
    assert kind is errors.RateLimitError and status == 429 and retry_after == 0.2
    assert "slow down" in text
    assert body == {"message": "slow down", "type": "x", "code": "y"}  # the server's own
    with RecordingServer(ERRORS["500 plain text"]) as server:
        kind, text, status, _, _, _ = outcome(server.base_url, "lean", "httpx")
    assert kind is errors.ServerError and "Internal Server Error" in text


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_that_is_not_there_is_the_same_error(transport, stream):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    lean, sdk = (outcome(url, path, transport, stream=stream) for path in PATHS)
    assert lean == sdk and lean[0] is errors.APIConnectionError


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_body_cut_short_is_a_connection_error_retried_on_both_paths(transport):
    cut = respond(JSON_HEAD + b'{"choices": [')  # 500 bytes announced, 13 sent
    with RawHTTPServer(cut) as server:
        for path in PATHS:
            # Counted by the client, for this call alone: a retry on a loaded machine can
            # fail on the pooled connection the server just dropped, before the server
            # reads it, and other tests' calls may still be ending in this process.
            stats = llm_magics.CallStats()
            [found] = llm_magics.map(["hello"], stats=stats, base_url=server.base_url,
                                     api_key=KEY, model="m", cache=False, request_path=path,
                                     transport=transport, max_retries=1,
                                     backoff_initial_s=0.01)
            assert type(found) is errors.APIConnectionError, (path, found)
            assert (stats.attempts, stats.retries) == (2, 1), path


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_read_timeout_is_the_same_error(transport):
    async def stall(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    with RawHTTPServer(stall) as server:
        lean, sdk = (outcome(server.base_url, path, transport, read_timeout=0.3)
                     for path in PATHS)
    assert lean == sdk and lean[0] is errors.APITimeoutError
    assert "read_timeout" in lean[1]


@pytest.mark.parametrize("path", PATHS)
def test_the_answer_keeps_the_body_as_bytes_and_raw_decodes_them(path):
    with RecordingServer() as server:
        first = llm_magics.complete("hello", base_url=server.base_url, api_key=KEY,
                                    model="m", request_path=path)
        again = llm_magics.complete("hello", base_url=server.base_url, api_key=KEY,
                                    model="m", request_path=path)
    assert isinstance(first.raw_json, bytes)
    assert first.raw["choices"][0]["message"]["content"] == ANSWER == first.text
    assert first.raw["usage"]["total_tokens"] == 5
    assert again.cached and again.raw == first.raw  # the cache keeps the body too
    first.raw = None
    assert first.raw_json is None and first.raw is None
