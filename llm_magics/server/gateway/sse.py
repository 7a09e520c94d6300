"""Relaying the engine's stream as OpenAI server-sent events, one event per upstream delta.

Nothing is buffered: each text delta the engine yields becomes one
``chat.completion.chunk`` frame and one write to the socket (the listening
socket has ``TCP_NODELAY``). The first delta is awaited *before* the response
starts, so an upstream that refuses the request (404, 429 after retries, an
open breaker) still gets a proper HTTP status instead of a 200 followed by an
error event. A stream that breaks after text was sent ends with an
``{"error": ...}`` event, which the official SDK raises as ``APIError``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ... import errors
from ...core.types import Response
from ..openai_shapes import SSE_DONE, ChunkEncoder, new_id, sse_event, usage_chunk

__all__ = ["SSE_HEADERS", "sse_frames"]

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
"""``x-accel-buffering: no`` tells a reverse proxy in front (nginx) not to buffer either."""


async def sse_frames(
    first: str | Response,
    rest: AsyncIterator[str | Response],
    *,
    model: str,
    include_usage: bool,
    on_error: Callable[[errors.LLMError], dict[str, Any]],
) -> AsyncIterator[bytes]:
    """Role opener + first delta, then one frame per delta, the finish, usage, ``[DONE]``."""
    encoder = ChunkEncoder(completion_id=new_id("chatcmpl"), model=model,
                           created=int(time.time()), system_fingerprint=None)
    opener = encoder.chunk({"role": "assistant", "content": "", "refusal": None})
    item = first
    try:
        if isinstance(item, str):  # opener and first token in one write: no extra round trip
            yield opener + encoder.content(item)
            async for item in rest:
                if isinstance(item, Response):
                    break
                yield encoder.content(item)
        else:
            yield opener
        if not isinstance(item, Response):  # the engine always ends with its Response
            raise errors.StreamInterruptedError("The upstream stream ended without a result.")
        yield encoder.chunk({}, item.finish_reason or "stop")
        if include_usage:
            yield sse_event(usage_chunk(
                completion_id=encoder.completion_id, model=item.model or model,
                created=encoder.created, prompt_tokens=item.usage.prompt_tokens,
                completion_tokens=item.usage.completion_tokens, system_fingerprint=None))
        yield SSE_DONE
    except errors.LLMError as err:
        yield sse_event(on_error(err))

