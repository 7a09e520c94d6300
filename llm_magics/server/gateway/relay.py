"""Translating between the wire and the core: bodies to ``Request``, results and errors back.

Errors are the delicate part. The engine turns an upstream failure into an
``LLMError`` written for a library user ("check OPENAI_API_KEY ..."); a
gateway client needs the upstream's own OpenAI-shaped body instead, with the
same status, except where passing it on would mislead: an upstream 401 means
the *gateway's* key is wrong, which the client cannot fix, so it becomes a 502.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ... import errors
from ...core.types import PRIORITY_RANK, Priority, Request, Response
from ..openai_shapes import ErrorReply, bad_request, chat_completion, new_id
from .upstream import Upstream

__all__ = [
    "PRIORITY_HEADER",
    "check_streamable",
    "completion_body",
    "priority_of",
    "to_core_request",
    "to_openai_error",
]

PRIORITY_HEADER = "x-llm-priority"
_NOT_PARAMS = frozenset({"model", "messages", "stream", "stream_options"})
_TYPE_FOR_STATUS = {429: "requests", 401: "invalid_request_error"}


def priority_of(headers: Mapping[str, str], default: Priority) -> Priority:
    """The ``X-LLM-Priority`` header (``interactive``, ``high`` or ``bulk``), or ``default``."""
    raw = headers.get(PRIORITY_HEADER)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in PRIORITY_RANK:
        raise bad_request(
            f"Invalid value for header 'X-LLM-Priority': {raw!r}. Use interactive, high or bulk.",
            param="X-LLM-Priority", code="invalid_value")
    return value  # type: ignore[return-value]


def to_core_request(body: Mapping[str, Any], model: str, upstream: Upstream,
                    priority: Priority) -> Request:
    """A validated chat body as the core's ``Request`` (streaming is the engine's choice)."""
    params = {k: v for k, v in body.items() if k not in _NOT_PARAMS}
    return Request(list(body["messages"]), model, upstream.base_url, params, priority)


def check_streamable(body: Mapping[str, Any]) -> None:
    """Refuse what the engine's stream cannot carry, rather than silently dropping it.

    The engine streams the text of one choice; tool-call deltas, logprobs and
    extra choices would be lost, so those requests must use ``stream=false``.
    """
    n = body.get("n") or 1
    for name, present in (("n", n != 1), ("tools", bool(body.get("tools"))),
                          ("functions", bool(body.get("functions"))),
                          ("logprobs", bool(body.get("logprobs")))):
        if present:
            raise bad_request(
                f"The gateway streams plain text of one choice; '{name}' needs stream=false.",
                param=name, code="unsupported_parameter")


def completion_body(response: Response) -> dict[str, Any]:
    """The ``chat.completion`` object: the upstream's own, or rebuilt for a streamed answer."""
    if response.raw is not None:
        return response.raw
    return chat_completion(
        completion_id=new_id("chatcmpl"),
        model=response.model,
        contents=[(response.text, response.finish_reason or "stop")],
        prompt_tokens=response.usage.prompt_tokens,
        completion_tokens=response.usage.completion_tokens,
        system_fingerprint=None,
    )


def _retry_headers(err: errors.LLMError) -> dict[str, str]:
    """``Retry-After`` in whole seconds; a 429 always gets one (the limiter's own pause: 1 s)."""
    wait = err.retry_after_s
    if wait is None:
        return {"retry-after": "1"} if err.status_code == 429 else {}
    return {"retry-after": str(max(1, round(wait + 0.4999)))}


def to_openai_error(err: errors.LLMError, upstream: Upstream) -> ErrorReply:
    """The response a gateway client gets for an engine failure; never carries the key."""
    status = err.status_code
    headers = _retry_headers(err)
    if status in (401, 403):
        return ErrorReply(
            502,
            f"The gateway's upstream refused the gateway's own API key (HTTP {status}). "
            "The operator should check --upstream-key-env / OPENAI_API_KEY.",
            type="server_error", code="upstream_auth_failed")
    if status is not None:
        inner = err.body if isinstance(err.body, dict) else {}
        message = inner.get("message") or err.message
        return ErrorReply(
            status,
            upstream.scrub(str(message)),
            type=str(inner.get("type") or _TYPE_FOR_STATUS.get(
                status, "server_error" if status >= 500 else "invalid_request_error")),
            param=inner.get("param"),
            code=inner.get("code"),
            headers=headers,
        )
    if isinstance(err, errors.CircuitOpenError):
        return ErrorReply(503, upstream.scrub(err.message), type="server_error",
                           code="upstream_circuit_open", headers=headers or {"retry-after": "1"})
    if isinstance(err, errors.APITimeoutError):
        return ErrorReply(504, "The gateway's upstream did not answer in time (after retries).",
                           type="server_error", code="upstream_timeout")
    if isinstance(err, errors.APIConnectionError):
        return ErrorReply(502, "The gateway cannot reach its upstream (after retries).",
                           type="server_error", code="upstream_unreachable")
    return ErrorReply(502, upstream.scrub(err.message), type="server_error",
                       code="upstream_error")
