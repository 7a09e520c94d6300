"""Where a call goes, and what differs about that server.

An ``Endpoint`` is resolved once per face call (``core.pipeline``) and carries
everything the rest of the core must know about the server behind it, so no
code downstream asks *which* server it is: a provider that needs requests
reshaped sets ``adapt_body``, one that answers one request at a time sets
``max_concurrency``, one without ``/v1/batches`` sets ``has_batch_api=False``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Endpoint", "NO_KEY", "OPENAI_HOST", "HOSTED_DEFAULT_MODEL", "hosted_base_url"]

OPENAI_HOST = "api.openai.com"
HOSTED_DEFAULT_MODEL = "gpt-4o-mini"
NO_KEY = "no-key"
"""Sent to servers that need no key (llama.cpp, vLLM, the simulator) when none is set."""

BodyAdapter = Callable[[dict[str, Any]], dict[str, Any]]


def hosted_base_url() -> str:
    return f"https://{OPENAI_HOST}/v1"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A resolved server: base URL, model, key, and the provider's differences.

    ``api_key`` stays out of ``repr`` so it is never printed.
    """

    base_url: str
    model: str
    api_key: str = field(default=NO_KEY, repr=False)
    provider: str = "openai-compatible"
    max_concurrency: int | None = None
    adapt_body: BodyAdapter | None = field(default=None, repr=False, compare=False)
    has_batch_api: bool = True

    def wire_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON body this server accepts for an OpenAI chat-completions body."""
        return body if self.adapt_body is None else self.adapt_body(body)

    def workers_for(self, concurrency: int) -> int:
        """Calls to keep in flight: what was asked, within what the server can take."""
        if self.max_concurrency is None:
            return concurrency
        return min(concurrency, self.max_concurrency)
