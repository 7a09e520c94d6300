"""OpenAI-compatible wire shapes: request model, response builders, SSE framing, error bodies.

Kept free of simulator logic so the future gateway can reuse it: anything that
speaks `/v1/chat/completions` to the official SDK needs exactly these shapes,
and getting one field wrong (say, a missing ``object`` or a usage chunk with
non-empty ``choices``) makes the SDK raise far from the cause.

Builders return plain dicts and the encoders use the stdlib ``json`` with
compact separators: the simulator must serve hundreds of requests per second
on two cores, and pydantic serialisation per chunk would be the hot spot.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..core.jsoncodec import encode_json

__all__ = [
    "SSE_DONE",
    "ChatCompletionRequest",
    "ChunkEncoder",
    "ErrorReply",
    "bad_request",
    "chat_chunk",
    "chat_completion",
    "dumps",
    "error_body",
    "error_for_status",
    "error_response",
    "model_not_found",
    "new_id",
    "not_found",
    "overloaded",
    "rate_limited",
    "server_error",
    "sse_event",
    "unauthorized",
    "usage",
    "usage_chunk",
]

SSE_DONE = b"data: [DONE]\n\n"
"""The terminator the SDK waits for; without it a stream looks truncated."""


class ChatCompletionRequest(BaseModel):
    """Body of ``POST /v1/chat/completions``.

    Unknown fields are allowed, as OpenAI adds parameters often and a server
    that rejects them would break newer SDKs for no gain.
    """

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]]
    stream: bool | None = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None)
    max_completion_tokens: int | None = Field(default=None)
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = 1
    seed: int | None = None
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    user: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @property
    def token_limit(self) -> int | None:
        """The effective completion cap; ``max_completion_tokens`` wins as in OpenAI."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens

    @property
    def include_usage(self) -> bool:
        """Whether a stream must end with the usage chunk."""
        return bool(self.stream_options and self.stream_options.get("include_usage"))


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes; non-ASCII kept as UTF-8 like OpenAI does."""
    return encode_json(obj)


def new_id(prefix: str) -> str:
    """An OpenAI-style id such as ``chatcmpl-<hex>``."""
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The ``usage`` object, including the detail blocks newer SDKs read."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(
    *,
    completion_id: str,
    model: str,
    contents: list[tuple[str, str]],
    prompt_tokens: int,
    completion_tokens: int,
    created: int | None = None,
    system_fingerprint: str | None = "fp_sim",
) -> dict[str, Any]:
    """A ``chat.completion`` object; ``contents`` holds ``(text, finish_reason)`` per choice."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "system_fingerprint": system_fingerprint,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
            for i, (text, finish) in enumerate(contents)
        ],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def chat_chunk(
    *,
    completion_id: str,
    model: str,
    created: int,
    delta: Mapping[str, Any],
    finish_reason: str | None = None,
    index: int = 0,
    system_fingerprint: str | None = "fp_sim",
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` carrying a single choice delta."""
    choice = {"index": index, "delta": dict(delta), "logprobs": None,
              "finish_reason": finish_reason}
    return _chunk(completion_id, model, created, system_fingerprint, [choice])


def usage_chunk(
    *,
    completion_id: str,
    model: str,
    created: int,
    prompt_tokens: int,
    completion_tokens: int,
    system_fingerprint: str | None = "fp_sim",
) -> dict[str, Any]:
    """The final chunk sent when ``stream_options.include_usage`` is true: no choices, usage set."""
    chunk = _chunk(completion_id, model, created, system_fingerprint, [])
    chunk["usage"] = usage(prompt_tokens, completion_tokens)
    return chunk


def _chunk(completion_id: str, model: str, created: int, system_fingerprint: str | None,
           choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": system_fingerprint,
        "choices": choices,
    }


def sse_event(obj: Any) -> bytes:
    """Frame one JSON object as a server-sent event (``data: {...}\\n\\n``)."""
    return b"data: " + dumps(obj) + b"\n\n"


# --------------------------------------------------------------------------- errors


class ErrorReply(Exception):
    """An error to answer with an OpenAI-shaped body; raise it anywhere in a handler."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    @property
    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)

    def to_response(self) -> Response:
        return error_response(self)


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}`` as the SDK parses it."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(err: ErrorReply) -> Response:
    """Render an :class:`ErrorReply` as a JSON response with its headers."""
    return Response(
        content=dumps(err.body),
        status_code=err.status_code,
        media_type="application/json",
        headers=err.headers,
    )


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ErrorReply:
    return ErrorReply(400, message, param=param, code=code)


def unauthorized(message: str | None = None) -> ErrorReply:
    return ErrorReply(
        401,
        message or "Incorrect API key provided. You can find your API key in your settings.",
        code="invalid_api_key",
    )


def not_found(message: str, *, param: str | None = None, code: str | None = None) -> ErrorReply:
    return ErrorReply(404, message, param=param, code=code)


def model_not_found(model: str) -> ErrorReply:
    """The exact 404 OpenAI returns for a model that does not exist."""
    return ErrorReply(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def rate_limited(
    message: str, *, kind: str = "requests", headers: Mapping[str, str] | None = None
) -> ErrorReply:
    """A 429; ``kind`` is ``requests`` or ``tokens``, which OpenAI puts in ``type``."""
    return ErrorReply(429, message, type=kind, code="rate_limit_exceeded", headers=headers)


def server_error(status_code: int = 500, message: str | None = None) -> ErrorReply:
    """A 5xx with OpenAI's wording; any status code is accepted so tests can force one."""
    return ErrorReply(
        status_code,
        message or "The server had an error while processing your request. Sorry about that!",
        type="server_error",
    )


def overloaded(message: str | None = None) -> ErrorReply:
    """The 503 OpenAI returns when an engine is overloaded."""
    return ErrorReply(
        503,
        message or "The engine is currently overloaded, please try again later.",
        type="server_error",
    )


def error_for_status(status_code: int, message: str | None = None) -> ErrorReply:
    """The most OpenAI-like error for an arbitrary forced status code."""
    if status_code == 401:
        return unauthorized(message)
    if status_code == 404:
        return not_found(message or "Not found.", code="not_found")
    if status_code == 429:
        return rate_limited(message or "Rate limit reached (forced by the simulator).")
    if status_code == 503:
        return overloaded(message)
    if status_code >= 500:
        return server_error(status_code, message)
    if status_code == 403:
        return ErrorReply(403, message or "You are not allowed to access this resource.",
                           code="forbidden")
    return ErrorReply(status_code, message or f"Request rejected with status {status_code}.")


@dataclass(eq=False, kw_only=True)
class ChunkEncoder:
    """Pre-rendered SSE frames for one streamed choice.

    A stream sends one chunk per token; rendering the constant part once and
    only JSON-escaping the token keeps a long stream cheap for the server.
    """

    completion_id: str
    model: str
    created: int
    index: int = 0
    system_fingerprint: str | None = "fp_sim"

    def __post_init__(self) -> None:
        sample = chat_chunk(
            completion_id=self.completion_id,
            model=self.model,
            created=self.created,
            delta={"content": "\x00"},
            index=self.index,
            system_fingerprint=self.system_fingerprint,
        )
        self._head, self._tail = sse_event(sample).split(dumps("\x00"))

    def content(self, text: str) -> bytes:
        """The frame carrying ``text`` as ``delta.content``."""
        return self._head + dumps(text) + self._tail

    def chunk(self, delta: Mapping[str, Any], finish_reason: str | None = None) -> bytes:
        """Any other frame of this choice (role opener, finish)."""
        return sse_event(
            chat_chunk(
                completion_id=self.completion_id,
                model=self.model,
                created=self.created,
                delta=delta,
                finish_reason=finish_reason,
                index=self.index,
                system_fingerprint=self.system_fingerprint,
            )
        )
