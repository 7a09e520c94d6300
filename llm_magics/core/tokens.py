"""Token estimates made before a call, for the TPM limiter and ``estimate()``.

tiktoken downloads its tables at run time, which this project never does, so the
estimate is the usual ~4 characters per token plus a few tokens of framing per
message. The limiter corrects itself with the real usage after each call.
"""

from __future__ import annotations

from typing import Any

__all__ = ["estimate_prompt_tokens", "estimate_request_tokens", "estimate_text_tokens",
           "prompt_tokens_bound", "DEFAULT_COMPLETION_ESTIMATE"]

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
# Assumed answer length when a request sets no max_tokens.
DEFAULT_COMPLETION_ESTIMATE = 256


def _content_chars(content: Any, size: Any = len) -> int:
    if isinstance(content, str):
        return size(content)
    if isinstance(content, list):  # multi-part content
        return sum(size(p.get("text", "")) for p in content if isinstance(p, dict))
    return size(str(content)) if content is not None else 0


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "replace"))


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    chars = sum(_content_chars(m.get("content")) for m in messages)
    return chars // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE * len(messages) + 1


def estimate_text_tokens(text: str) -> int:
    """An answer's tokens, for a server that did not report its usage."""
    return _content_chars(text) // CHARS_PER_TOKEN + (1 if text else 0)


def estimate_request_tokens(messages: list[dict[str, Any]], max_tokens: int | None,
                            choices: int = 1) -> int:
    """The prompt, plus ``max_tokens`` (or the assumed answer) for each of ``choices``."""
    completion = max_tokens or DEFAULT_COMPLETION_ESTIMATE
    return estimate_prompt_tokens(messages) + completion * choices


def prompt_tokens_bound(messages: list[dict[str, Any]]) -> int:
    """At most this many prompt tokens: a byte-level BPE token is at least one UTF-8 byte.

    The budget reserves this, not the estimate, so text that tokenizes badly
    (CJK, code, digits) can never take a run past its cap.
    """
    size = sum(_content_chars(m.get("content"), _utf8_bytes) for m in messages)
    return size + TOKENS_PER_MESSAGE * len(messages) + 1
