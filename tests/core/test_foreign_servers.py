"""Answers framed the ways servers other than our simulator frame them, on both request paths.

Each case is the bytes a real server or proxy sends (vLLM, llama.cpp, Ollama,
LiteLLM, OpenAI, nginx, a login page); every test runs the lean path and the
SDK path (the reference) over both transports, and the lean path must do at
least as well: the same error class and text, no lost tokens, nothing cached
that did not finish.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib

import pytest
from raw_http_server import RawHTTPServer, chunked, respond
from wire_shapes import (
    DONE,
    HELLO,
    KEY,
    ROLE,
    STOP,
    STREAM,
    TEXT,
    TRANSPORTS,
    WIRES,
    WORLD,
    answer_to,
    ask,
    chunk,
    completion,
    event,
    failure_of,
    failures_on_both_paths,
    http,
    sse,
)

from llm_magics import errors
from llm_magics.core.types import Usage

ANSWERS = {
    "gzip": http(gzip.compress(completion()), headers=b"content-encoding: gzip\r\n"),
    "deflate": http(zlib.compress(completion()), headers=b"content-encoding: deflate\r\n"),
    "chunked": b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
               b"transfer-encoding: chunked\r\n\r\n" + chunked(completion()[:9])
               + chunked(completion()[9:]) + b"0\r\n\r\n",
    "HTTP/1.0, ended by the close": http(completion(), version=b"HTTP/1.0", length=False),
    "charset": http(completion(), b"application/json; charset=utf-8"),
    "100 Continue first": b"HTTP/1.1 100 Continue\r\n\r\n" + http(completion()),
    "odd headers": http(completion(), headers=b"X-Odd:   spaced  \r\nset-cookie: a=b; Path=/\r\n"
                        b"via: 1.1 proxy\r\nserver: nginx\r\nx-request-id: r1\r\n"),
    "extra fields, float counts": http(completion(
        usage={"prompt_tokens": 3.0, "completion_tokens": 2.0, "total_tokens": 5.0},
        system_fingerprint="fp", service_tier="default", kv_transfer_params={"a": 1})),
}


@pytest.mark.parametrize(("path", "transport"), WIRES)
@pytest.mark.parametrize("case", list(ANSWERS))
def test_an_answer_in_any_http_framing_is_read_whole(case, path, transport):
    response = answer_to(ANSWERS[case], path, transport)
    assert (response.text, response.usage, response.finish_reason) == (TEXT, Usage(3, 2), "stop")


USAGE_LAST = event(json.dumps({"id": "c1", "object": "chat.completion.chunk", "model": "raw",
                               "choices": [], "usage": {"prompt_tokens": 3,
                                                        "completion_tokens": 2}}).encode())
STREAMS = {
    "plain": sse(STREAM),
    "gzip": sse(gzip.compress(STREAM), headers=b"content-encoding: gzip\r\n"),
    "charset": http(STREAM, b"text/event-stream; charset=utf-8"),
    "CRLF line ends": sse(STREAM.replace(b"\n", b"\r\n")),
    "data: without the space, pings": sse(b": ping\n\n" + STREAM.replace(b"data: ", b"data:")
                                          .replace(STOP, b": ping\n\n" + STOP)),
    "HTTP/1.0, ended by the close": sse(STREAM, version=b"HTTP/1.0", length=False),
    "usage-only last chunk": sse(ROLE + HELLO + WORLD + STOP + USAGE_LAST + DONE),
    "finish in the chunk with the text": sse(ROLE + event(chunk({"content": TEXT}, "stop"))
                                             + DONE),
    "content null": sse(ROLE + event(chunk({"content": None})) + HELLO + WORLD + STOP + DONE),
    "events labelled application/json": http(b"\n" + STREAM),
}


@pytest.mark.parametrize(("path", "transport"), WIRES)
@pytest.mark.parametrize("case", list(STREAMS))
def test_a_stream_in_any_framing_and_dialect_is_read_whole(case, path, transport):
    response = answer_to(STREAMS[case], path, transport, stream=True)
    assert (response.text, response.finish_reason) == (TEXT, "stop")
    if case == "usage-only last chunk":
        assert response.usage == Usage(3, 2)


def trickle(payload: bytes, size: int):
    """Writes ``payload`` a few bytes at a time, so lines and characters span reads."""
    async def behaviour(writer: asyncio.StreamWriter) -> None:
        for at in range(0, len(payload), size):
            writer.write(payload[at:at + size])
            await writer.drain()
        writer.close()

    return behaviour


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_characters_and_lines_split_across_reads_come_out_whole(path, transport):
    words = ["caf\u00e9 ", "\u2713 ", "\U0001f600 ", "x" * 5000]
    body = ROLE + b"".join(event(chunk({"content": w})) for w in words) + STOP + DONE
    with RawHTTPServer(trickle(sse(body), 3)) as server:
        assert ask(server.base_url, path, transport, stream=True).text == "".join(words)


HUGE = "y" * 3_000_000


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_an_answer_of_megabytes_comes_whole(path, transport):
    assert answer_to(http(completion(HUGE)), path, transport).text == HUGE
    one_line = sse(ROLE + event(chunk({"content": HUGE})) + STOP + DONE)
    assert answer_to(one_line, path, transport, stream=True).text == HUGE


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_the_last_event_without_its_blank_line_still_counts(path, transport):
    """Some servers close right after their last ``data:`` line. Was: ``[DONE]`` lost (the
    whole answer never cached), and a finish chunk lost (a whole answer raised as cut)."""
    with RawHTTPServer(respond(sse(ROLE + HELLO + WORLD + STOP + b"data: [DONE]"))) as server:
        first = ask(server.base_url, path, transport, stream=True, cache=True)
        again = ask(server.base_url, path, transport, stream=True, cache=True)
        assert first.text == TEXT and again.cached and server.requests == 1
    finish_last = sse(ROLE + HELLO + WORLD + b"data: " + chunk({}, "stop"))
    with RawHTTPServer(respond(finish_last)) as server:
        first = ask(server.base_url, path, transport, stream=True, cache=True)
        again = ask(server.base_url, path, transport, stream=True, cache=True)
        assert (first.text, first.finish_reason) == (TEXT, "stop")
        assert not again.cached and server.requests == 2  # no [DONE]: not known to be whole
    cut_mid_line = sse(ROLE + HELLO + WORLD + b"data: " + chunk({}, "stop")[:-9])
    err, _ = failure_of(cut_mid_line, path, transport, stream=True)
    assert isinstance(err, errors.StreamInterruptedError) and err.partial_text == TEXT


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_a_json_answer_to_a_stream_request_is_the_answer(path, transport):
    """Servers that ignore ``stream`` send one JSON body. Was: a ServerError, retried in vain."""
    with RawHTTPServer(respond(http(completion()))) as server:
        first = ask(server.base_url, path, transport, stream=True, cache=True)
        again = ask(server.base_url, path, transport, stream=True, cache=True)
        assert (first.text, first.usage, first.finish_reason) == (TEXT, Usage(3, 2), "stop")
        assert again.cached and server.requests == 1  # read to its end: whole, so kept
    refused = http(json.dumps({"error": {"message": "model busy", "code": 503}}).encode())
    err, _ = failure_of(refused, path, transport, stream=True)
    assert isinstance(err, errors.ServerError) and "model busy" in err.message


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_server_sent_events_to_a_plain_request_are_the_answer(path, transport):
    """A proxy that streams every answer. Was: 'a body that is not JSON', retried in vain."""
    response = answer_to(sse(ROLE + HELLO + WORLD + STOP + USAGE_LAST + DONE), path, transport)
    assert (response.text, response.usage, response.finish_reason) == (TEXT, Usage(3, 2), "stop")


def stream_error(problem: dict) -> bytes:
    return sse(ROLE + event(json.dumps({"error": problem}).encode()))


IN_STREAM_ERRORS = {  # the bytes, the error, the requests with one retry allowed
    "vLLM 400": (stream_error({"object": "error", "message": "max_tokens is too large",
                               "type": "BadRequestError", "param": None, "code": 400}),
                 errors.InvalidRequestError, 1),
    "LiteLLM 429": (stream_error({"message": "quota for this key", "type": "throttling",
                                  "param": None, "code": "429"}), errors.RateLimitError, 1),
    "OpenAI server_error": (stream_error({"message": "The server had an error", "param": None,
                                          "type": "server_error", "code": None}),
                            errors.ServerError, 2),
    "event: error frame": (sse(ROLE + b"event: error\ndata: upstream timed out\n\n"),
                           errors.ServerError, 2),
}


@pytest.mark.parametrize(("path", "transport"), WIRES)
@pytest.mark.parametrize("case", list(IN_STREAM_ERRORS))
def test_an_error_inside_a_stream_is_the_error_it_names(case, path, transport):
    """Was: always a ServerError (a 400 retried, a 429 not backed off), and an
    ``event: error`` frame read as an empty chunk, its words lost."""
    payload, kind, requests = IN_STREAM_ERRORS[case]
    retries = 0 if kind is errors.RateLimitError else 1  # a 429 pauses the endpoint a while
    err, sent = failure_of(payload, path, transport, stream=True, max_retries=retries,
                           backoff_initial_s=0.01)
    assert type(err) is kind and sent == requests
    words = ("max_tokens is too large", "quota for this key", "The server had an error",
             "upstream timed out")
    assert any(w in err.message for w in words)


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_an_error_after_text_keeps_the_text_and_the_servers_words(path, transport):
    payload = sse(ROLE + HELLO + b'event: error\ndata: {"message": "worker died"}\n\n')
    err, _ = failure_of(payload, path, transport, stream=True)
    assert isinstance(err, errors.StreamInterruptedError)
    assert err.partial_text == "hello" and "worker died" in err.message


PRICES = {"raw": (1.0, 2.0)}


@pytest.mark.parametrize(("path", "transport"), WIRES)
@pytest.mark.parametrize("usage", [None, ...], ids=["null", "missing"])
def test_a_missing_usage_is_estimated_and_its_cost_unknown(usage, path, transport):
    """Was: usage 0 + 0 and a cost of $0.00, so a budget or a TPM limit counted nothing."""
    priced = answer_to(http(completion()), path, transport, prices=PRICES)
    assert priced.cost_usd == pytest.approx((3 * 1.0 + 2 * 2.0) / 1e6)
    plain = answer_to(http(completion(usage=usage)), path, transport, prices=PRICES)
    streamed = answer_to(sse(STREAM), path, transport, stream=True, prices=PRICES)
    for response in (plain, streamed):
        assert response.text == TEXT and response.cost_usd is None
        assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_bytes_that_are_not_utf8_are_replaced_not_refused(path, transport):
    """As the SDK's ``response.text`` does. Was: 'not JSON', retried to the same bytes."""
    response = answer_to(http(completion().replace(TEXT.encode(), b"caf\xe9")), path, transport)
    assert response.text == "caf\ufffd" and response.raw["choices"][0]["message"]["content"]


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_a_200_that_is_a_login_page_says_what_came(path, transport):
    page = http(f"<html><body>Sign in to the proxy {KEY}</body></html>".encode(), b"text/html")
    err, _ = failure_of(page, path, transport)
    assert isinstance(err, errors.ServerError)
    assert "text/html" in err.message and "Sign in" in err.message and KEY not in err.message


@pytest.mark.parametrize(("path", "transport"), WIRES)
@pytest.mark.parametrize("stream", [False, True])
def test_a_body_its_content_encoding_does_not_decode_is_a_server_error(stream, path, transport):
    """A proxy labels a plain body gzip. Was: a raw httpx DecodingError (lean, httpx), or
    'Cannot reach ... is the server running' though it answered."""
    body = STREAM if stream else completion()
    payload = http(body, b"text/event-stream" if stream else b"application/json",
                   headers=b"content-encoding: gzip\r\n")
    err, _ = failure_of(payload, path, transport, stream=stream)
    assert isinstance(err, errors.ServerError) and "Content-Encoding" in err.message


PROXY_ERRORS = {
    "401 login page": (b"401 Unauthorized", b"<html>Log in</html>", errors.AuthenticationError),
    "403 html": (b"403 Forbidden", b"<html>Forbidden</html>", errors.AuthenticationError),
    "413 html": (b"413 Payload Too Large", b"<html>413 Request Entity Too Large</html>",
                 errors.InvalidRequestError),
    "502 nginx": (b"502 Bad Gateway", b"<html><head><title>502 Bad Gateway</title></head>"
                  b"<body><center>nginx</center></body></html>", errors.ServerError),
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", list(PROXY_ERRORS))
def test_a_proxys_html_error_is_the_same_error_on_both_paths(case, transport):
    status, page, kind = PROXY_ERRORS[case]
    payload = http(page, b"text/html", status=status)
    lean, sdk = failures_on_both_paths(payload, transport)
    assert type(lean) is type(sdk) is kind
    assert (lean.message, lean.status_code) == (sdk.message, sdk.status_code)
    assert lean.status_code == int(status[:3])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_429_with_openai_style_reset_headers_is_the_same_on_both_paths(transport):
    payload = http(b'{"error": {"message": "slow down"}}', status=b"429 Too Many Requests",
                   headers=b"retry-after-ms: 150\r\nx-ratelimit-reset-requests: 1m3s\r\n"
                           b"x-ratelimit-remaining-requests: 0\r\n"
                           b"x-ratelimit-limit-requests: 60\r\n")
    lean, sdk = failures_on_both_paths(payload, transport)
    assert type(lean) is type(sdk) is errors.RateLimitError
    assert (lean.message, lean.retry_after_s) == (sdk.message, sdk.retry_after_s)
    assert lean.retry_after_s == pytest.approx(0.15)


def tool_delta(index: int, **piece: object) -> bytes:
    return event(chunk({"tool_calls": [{"index": index, **piece}]}))


TOOL_STREAM = (ROLE
               + tool_delta(0, id="call_a", type="function",
                            function={"name": "weather", "arguments": ""})
               + tool_delta(0, function={"arguments": '{"city": '})
               + tool_delta(1, id="call_b", type="function",
                            function={"name": "time", "arguments": "{}"})
               + tool_delta(0, function={"arguments": '"Oslo"}'})
               + event(chunk({}, "tool_calls")) + DONE)
TOOL_CALLS = [{"id": "call_a", "type": "function",
               "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
              {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{}"}}]


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_a_streams_tool_calls_are_kept_whole(path, transport):
    """Was: a stream of tool calls ended as an empty text, its calls lost (and cached so)."""
    with RawHTTPServer(respond(sse(TOOL_STREAM))) as server:
        first = ask(server.base_url, path, transport, stream=True, cache=True)
        again = ask(server.base_url, path, transport, stream=True, cache=True)
    assert (first.text, first.finish_reason) == ("", "tool_calls")
    assert first.raw["choices"][0]["message"]["tool_calls"] == TOOL_CALLS
    assert again.cached and again.raw == first.raw


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_content_sent_as_a_list_of_parts_is_its_text(path, transport):
    """Some servers send ``content`` as parts. Was: the list itself as the 'text'."""
    parts = [{"type": "text", "text": "hello"}, {"type": "text", "text": " world"}]
    assert answer_to(http(completion(parts)), path, transport).text == TEXT
    as_parts = sse(ROLE + event(chunk({"content": parts[:1]})) + WORLD + STOP + DONE)
    assert answer_to(as_parts, path, transport, stream=True).text == TEXT
