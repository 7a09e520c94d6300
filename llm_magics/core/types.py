"""The values that flow through the core: a request in, a response out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from ..errors import InvalidRequestError, LLMError
from .jsoncodec import decode_json, encode_json
from .request_fields import check_json_value
from .tokens import estimate_request_tokens

__all__ = [
    "Usage", "Response", "Request", "Outcome", "Priority", "PRIORITY_RANK", "to_messages",
]

Priority = Literal["interactive", "high", "bulk"]
# Lower runs first, in the limiter and on the queue.
PRIORITY_RANK: dict[str, int] = {"interactive": 0, "high": 1, "bulk": 2}

Messages = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(slots=True)
class Response:
    """One answer. ``str(response)`` is its text, so it drops into f-strings and columns."""

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None
    cached: bool = False
    finish_reason: str | None = None
    raw_json: bytes | None = field(default=None, repr=False)
    """The server's body as it came: a fifth of the memory of the parsed dict (``raw``)."""

    def __str__(self) -> str:
        return self.text

    @property
    def raw(self) -> dict[str, Any] | None:
        """The server's JSON body, decoded from ``raw_json`` on each access."""
        return None if self.raw_json is None else decode_json(self.raw_json)

    @raw.setter
    def raw(self, value: dict[str, Any] | None) -> None:
        self.raw_json = None if value is None else encode_json(value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, used by the queue's result backend and read back by ``from_dict``."""
        return self._fields(self.raw)

    def to_json(self) -> bytes:
        """``to_dict()`` as JSON (the cache's form): the body is embedded as it came, not
        decoded and encoded again."""
        return encode_json(self._fields(None if self.raw_json is None
                                        else msgspec.Raw(self.raw_json)))

    def _fields(self, raw: Any) -> dict[str, Any]:
        return {
            "text": self.text,
            "model": self.model,
            "usage": [self.usage.prompt_tokens, self.usage.completion_tokens],
            "cost_usd": self.cost_usd,
            "latency_s": self.latency_s,
            "ttft_s": self.ttft_s,
            "finish_reason": self.finish_reason,
            "raw": raw,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, cached: bool = False) -> Response:
        p, c = data.get("usage") or (0, 0)
        response = cls(
            text=data["text"],
            model=data["model"],
            usage=Usage(p, c),
            cost_usd=data.get("cost_usd"),
            latency_s=data.get("latency_s", 0.0),
            ttft_s=data.get("ttft_s"),
            finish_reason=data.get("finish_reason"),
            cached=cached,
        )
        response.raw = data.get("raw")
        return response


Outcome = Response | LLMError
"""What one request ends as: an answer, or the error in its slot (errors are values)."""


def to_messages(prompt_or_messages: str | Messages, system: str | None = None) -> Messages:
    """Accept a prompt string or an OpenAI messages list; reject what cannot be sent."""
    if isinstance(prompt_or_messages, str):
        if not prompt_or_messages.strip():
            raise InvalidRequestError("The prompt is empty: pass some text to send to the model.")
        messages: Messages = [{"role": "user", "content": prompt_or_messages}]
    elif isinstance(prompt_or_messages, list):
        if not prompt_or_messages:
            raise InvalidRequestError("The messages list is empty: add at least one message.")
        for m in prompt_or_messages:
            if not isinstance(m, dict) or "role" not in m:
                raise InvalidRequestError(
                    f"Each message must be a dict with 'role' and 'content', got {m!r:.80}."
                )
        messages = list(prompt_or_messages)
    else:
        raise InvalidRequestError(
            "Expected a prompt string or a list of messages, got "
            f"{type(prompt_or_messages).__name__}."
        )
    if system:
        messages = [{"role": "system", "content": system}, *messages]
    check_json_value(messages, "messages")
    return messages


MAX_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens")
"""The request fields that bound an answer's length (``max_completion_tokens`` wins)."""


@dataclass(frozen=True, slots=True)
class Request:
    """What is sent: the cache key is a hash of all of it but the priority."""

    messages: Messages
    model: str
    base_url: str
    params: dict[str, Any] = field(default_factory=dict)
    priority: Priority = "bulk"

    def body(self, *, stream: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": self.messages, **self.params}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def cache_key(self) -> str:
        payload = json.dumps(
            [self.base_url, self.model, self.messages, self.params],
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def max_tokens(self) -> int | None:
        return self.params.get("max_completion_tokens") or self.params.get("max_tokens")

    @property
    def choices(self) -> int:
        """How many answers the request asks for (``n``): each may take ``max_tokens``."""
        return self.params.get("n") or 1

    @property
    def estimated_tokens(self) -> int:
        """What it may cost, for TPM limits: its prompt, plus ``max_tokens`` (or the assumed
        answer) for each of its ``n`` choices."""
        return estimate_request_tokens(self.messages, self.max_tokens, self.choices)
