"""What servers that are not our simulator put on the wire, byte for byte.

vLLM, llama.cpp's server, Ollama, LiteLLM, Azure and proxies in front of them
each frame answers their own way; these build those bodies for
``raw_http_server``, so a test states the exact bytes a client must cope with.
"""

from __future__ import annotations

import json

from raw_http_server import RawHTTPServer, respond

import llm_magics
from llm_magics import errors

KEY = "sk-foreign-secret-0123456789"
PATHS = ("lean", "sdk")
TRANSPORTS = ("aiohttp", "httpx")
WIRES = [(p, t) for p in PATHS for t in TRANSPORTS]
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
TEXT = "hello world"


def completion(content: str | None = TEXT, usage: object = USAGE, **extra: object) -> bytes:
    """A ``chat.completion`` body; ``usage=...`` leaves the member out."""
    body: dict = {"id": "c1", "object": "chat.completion", "created": 1, "model": "raw",
                  "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": content}}]}
    if usage is not ...:
        body["usage"] = usage
    return json.dumps({**body, **extra}).encode()


def chunk(delta: dict, finish: str | None = None) -> bytes:
    return json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                       "model": "raw",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).encode()


def event(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


ROLE = event(chunk({"role": "assistant", "content": ""}))
HELLO = event(chunk({"content": "hello"}))
WORLD = event(chunk({"content": " world"}))
STOP = event(chunk({}, "stop"))
DONE = b"data: [DONE]\n\n"
STREAM = ROLE + HELLO + WORLD + STOP + DONE


def http(body: bytes, content_type: bytes = b"application/json", *,
         status: bytes = b"200 OK", headers: bytes = b"", version: bytes = b"HTTP/1.1",
         length: bool = True) -> bytes:
    """A whole response: ``length=False`` leaves the body delimited by the close alone."""
    head = version + b" " + status + b"\r\ncontent-type: " + content_type + b"\r\n" + headers
    if length:
        head += b"content-length: %d\r\n" % len(body)
    return head + b"\r\n" + body


def sse(body: bytes, **kwargs: object) -> bytes:
    return http(body, b"text/event-stream", **kwargs)  # type: ignore[arg-type]


def options(base_url: str, path: str, transport: str, **more: object) -> dict:
    return {"base_url": base_url, "api_key": KEY, "model": "raw", "cache": False,
            "max_retries": 0, "request_path": path, "transport": transport, **more}


def ask(base_url: str, path: str, transport: str, *, stream: bool = False, **more: object):
    """The Response of one call (a stream read to its end)."""
    settings = options(base_url, path, transport, **more)
    if not stream:
        return llm_magics.complete("hi", **settings)
    s = llm_magics.stream("hi", **settings)
    text = "".join(s)
    assert s.response is not None and s.response.text == text
    return s.response


def answer_to(payload: bytes, path: str, transport: str, *, stream: bool = False, **more):
    """The Response one call gets from a server that answers every request with ``payload``."""
    with RawHTTPServer(respond(payload)) as server:
        return ask(server.base_url, path, transport, stream=stream, **more)


def _failure(base_url: str, path: str, transport: str, **more: object) -> errors.LLMError:
    try:
        ask(base_url, path, transport, **more)
    except errors.LLMError as err:
        return err
    raise AssertionError("the call was expected to fail")


def failure_of(payload: bytes, path: str, transport: str, **more: object
               ) -> tuple[errors.LLMError, int]:
    """The error one call raises, and how many requests the server got for it."""
    with RawHTTPServer(respond(payload)) as server:
        return _failure(server.base_url, path, transport, **more), server.requests


def failures_on_both_paths(payload: bytes, transport: str) -> list[errors.LLMError]:
    """The errors of one call per request path, against one server (one URL in both texts)."""
    with RawHTTPServer(respond(payload)) as server:
        return [_failure(server.base_url, path, transport) for path in PATHS]
