"""Token estimates made before a call, for the TPM limiter and ``estimate()``.

tiktoken downloads its tables at run time, which this project never does, so the
estimate is the usual ~4 characters per token plus a few tokens of framing per
message. The limiter corrects itself with the real usage after each call.
"""

from __future__ import annotations

from typing import Any

__all__ = ["estimate_prompt_tokens", "estimate_request_tokens", "DEFAULT_COMPLETION_ESTIMATE"]

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
# Assumed answer length when a request sets no max_tokens.
DEFAULT_COMPLETION_ESTIMATE = 256


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):  # multi-part content
        return sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
    return len(str(content)) if content is not None else 0


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    chars = sum(_content_chars(m.get("content")) for m in messages)
    return chars // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE * len(messages) + 1


def estimate_request_tokens(messages: list[dict[str, Any]], max_tokens: int | None) -> int:
    completion = max_tokens if max_tokens is not None else DEFAULT_COMPLETION_ESTIMATE
    return estimate_prompt_tokens(messages) + completion
