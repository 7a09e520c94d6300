"""The gateway's strict ``/v1/chat/completions`` body: documented OpenAI fields, types and ranges.

The simulator accepts unknown fields (a test server should not break a newer
SDK); the gateway must not. Whatever it accepts is forwarded to the upstream
under the gateway's key and counted against everyone's shared limits, so a
field it does not know is refused (400) rather than passed on. The SDK's own
keyword arguments (``extra_body``, ``extra_headers``, ``extra_query``,
``timeout``) are client-side options: sent as body fields they would reach the
upstream call as options of the gateway's own SDK (another model, a 1 µs
timeout that counts against the shared breaker), so they get a 400 that says so.

    >>> validate_gateway_chat({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).model
    'm'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..chat_request import validate_chat
from ..openai_shapes import ChatCompletionRequest, bad_request

__all__ = ["SDK_ONLY_KEYS", "StrictChatRequest", "validate_gateway_chat"]

SDK_ONLY_KEYS = frozenset({"extra_body", "extra_headers", "extra_query", "timeout"})

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
Short = Annotated[str, Field(max_length=512)]


class Message(BaseModel):
    """One chat message; content parts, tool calls and audio stay open objects."""

    model_config = _STRICT

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: Short | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: Short | None = None
    function_call: dict[str, Any] | None = None
    refusal: str | None = None
    audio: dict[str, Any] | None = None


class StreamOptions(BaseModel):
    model_config = _STRICT

    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class StrictChatRequest(BaseModel):
    """Every documented field of a chat completion request, nothing else."""

    model_config = _STRICT

    model: Annotated[str, Field(min_length=1, max_length=256)]
    messages: Annotated[list[Message], Field(min_length=1)]
    audio: dict[str, Any] | None = None
    frequency_penalty: Penalty | None = None
    function_call: str | dict[str, Any] | None = None
    functions: Annotated[list[dict[str, Any]], Field(max_length=128)] | None = None
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    logprobs: bool | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    metadata: Annotated[dict[str, Short], Field(max_length=16)] | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    parallel_tool_calls: bool | None = None
    prediction: dict[str, Any] | None = None
    presence_penalty: Penalty | None = None
    prompt_cache_key: Short | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    response_format: dict[str, Any] | None = None
    safety_identifier: Short | None = None
    seed: int | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    stop: Short | Annotated[list[Short], Field(max_length=4)] | None = None
    store: bool | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    tool_choice: str | dict[str, Any] | None = None
    tools: Annotated[list[dict[str, Any]], Field(max_length=128)] | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    top_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    user: Short | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    web_search_options: dict[str, Any] | None = None


KNOWN_KEYS = frozenset(StrictChatRequest.model_fields)


def _refuse_unknown(body: Mapping[str, Any]) -> None:
    for key in body:
        if key in SDK_ONLY_KEYS:
            raise bad_request(
                f"'{key}' is an option of the OpenAI SDK, not a request field, and the gateway "
                f"does not forward it. Remove it from the body (pass documented fields as "
                "keyword arguments instead).", param=key, code="unsupported_parameter")
        if key not in KNOWN_KEYS:
            raise bad_request(
                f"Unrecognized request argument supplied: {key}. The gateway forwards only "
                "documented chat completion fields.", param=str(key), code="unknown_parameter")


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _where(loc: tuple[Any, ...]) -> str:
    """The field path, without the union-member tags pydantic adds (``constrained-str``...)."""
    return ".".join(str(p) for p in loc if not isinstance(p, str)
                    or not ("[" in p or "-" in p or p in _UNION_TAGS))


def validate_gateway_chat(body: Any) -> ChatCompletionRequest:
    """The shared OpenAI checks (same wording as the simulator), then the strict model: 400s."""
    req = validate_chat(body)  # a JSON object, OpenAI's messages for missing/empty fields
    _refuse_unknown(body)
    try:
        StrictChatRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = _where(first.get("loc", ()))
        raise bad_request(f"Invalid value for '{param}': {first.get('msg')}.", param=param,
                          code="invalid_value") from None
    return req
