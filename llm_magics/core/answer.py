"""What the server sent, as a ``Response``: a completion body, or a stream's chunks so far.

Both are read as plain JSON (no SDK models): a body without choices is a
``ServerError`` (retried, never cached), and a stream records its
``finish_reason`` so an answer that stopped early is told apart from a whole one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from .cost import Prices, cost_usd
from .tokens import estimate_prompt_tokens
from .types import Request, Response, Usage

__all__ = ["response_from_body", "StreamProgress"]


def _usage(raw: Any) -> Usage:
    u = raw if isinstance(raw, dict) else {}
    return Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))


def response_from_body(body: Any, request: Request, latency: float,
                       prices: Prices | None = None) -> Response:
    """A ``chat.completion`` object as a Response; anything else is a ``ServerError``."""
    try:
        choice = body["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise errors.ServerError(
            f"The server sent a response without choices: {json.dumps(body)[:200]}"
        ) from None
    usage = _usage(body.get("usage"))
    return Response(
        text=text,
        model=body.get("model") or request.model,
        usage=usage,
        cost_usd=cost_usd(request.model, usage, prices=prices),
        latency_s=latency,
        finish_reason=choice.get("finish_reason"),
        raw=body,
    )


@dataclass
class StreamProgress:
    """What a stream said so far: its text, and whether and why it finished."""

    model: str
    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None

    def add(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; returns its text delta ('' for role, finish and usage chunks)."""
        self.model = chunk.get("model") or self.model
        if isinstance(chunk.get("usage"), dict):
            self.usage = _usage(chunk["usage"])
        choices = chunk.get("choices") or []
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return ""
        choice = choices[0]
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        delta = choice.get("delta")
        text = (delta.get("content") if isinstance(delta, dict) else None) or ""
        if text:
            self.parts.append(text)
        return text

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def response(self, request: Request, *, latency_s: float, ttft_s: float,
                 prices: Prices | None = None) -> Response:
        usage = self.usage
        if usage is None:  # the server ignored stream_options.include_usage
            usage = Usage(estimate_prompt_tokens(request.messages), len(self.parts))
        return Response(
            text=self.text,
            model=self.model,
            usage=usage,
            cost_usd=cost_usd(request.model, usage, prices=prices),
            latency_s=latency_s,
            ttft_s=ttft_s,
            finish_reason=self.finish_reason,
        )
