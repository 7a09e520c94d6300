"""What the server sent, as a ``Response``: a completion body, or a stream's chunks so far.

Both are read as plain JSON (no SDK models): a body without choices is a
``ServerError`` (retried, never cached), and a stream records its
``finish_reason`` so an answer that stopped early is told apart from a whole one.
A server that reports no ``usage`` gets an estimate (the rate limiter and a
``max_cost_usd`` budget still count the call) and no price: its cost is unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from .cost import Prices, cost_usd
from .jsoncodec import decode_json, encode_json
from .sse import DONE, SSEDecoder
from .tokens import estimate_prompt_tokens, estimate_text_tokens
from .types import Request, Response, Usage

__all__ = ["response_from_body", "response_from_bytes", "StreamProgress"]

_HEAD_CHARS = 120  # of a body that is not an answer, quoted in the error


def _count(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _usage(raw: Any) -> Usage | None:
    """The server's token counts, or None when it sent none (null, missing, not numbers)."""
    if not isinstance(raw, dict):
        return None
    prompt, completion = _count(raw.get("prompt_tokens")), _count(raw.get("completion_tokens"))
    if prompt is None and completion is None:
        return None
    return Usage(prompt or 0, completion or 0)


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text of a list of parts (as some servers send)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part["text"] for part in content
                       if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def response_from_bytes(content: bytes, request: Request, latency: float, where: str,
                        prices: Prices | None = None, content_type: str | None = None
                        ) -> Response:
    """A ``chat.completion`` body as it came off the wire; not JSON is a ``ServerError``.

    Bytes that are not UTF-8 are replaced (as the SDK's ``response.text`` does) rather
    than failing an answer a retry would get the same way; a proxy that streams every
    answer gets its events put back together.
    """
    try:
        return response_from_body(decode_json(content), request, latency, prices,
                                  raw_json=content)
    except ValueError:
        pass
    try:
        body = decode_json(content.decode("utf-8", "replace"))
    except ValueError:
        streamed = _from_events(content, request, latency, prices)
        if streamed is not None:
            return streamed
        head = content[:_HEAD_CHARS].decode("utf-8", "replace")
        raise errors.ServerError(f"{where} answered with a body that is not JSON "
                                 f"({content_type or 'no content type'}): {head!r}") from None
    return response_from_body(body, request, latency, prices)


def _from_events(content: bytes, request: Request, latency: float,
                 prices: Prices | None) -> Response | None:
    """A finished answer sent as server-sent events to a request that did not ask for them."""
    decoder = SSEDecoder()
    progress = StreamProgress(request.model)
    for event in [*decoder.feed(content), *decoder.end()]:
        if event.data == DONE:
            break
        try:
            chunk = decode_json(event.data)
        except ValueError:
            return None
        if isinstance(chunk, dict):
            progress.add(chunk)
    if progress.finish_reason is None:
        return None
    return progress.response(request, latency_s=latency, ttft_s=latency, prices=prices)


def response_from_body(body: Any, request: Request, latency: float,
                       prices: Prices | None = None, *, raw_json: bytes | None = None) -> Response:
    """A ``chat.completion`` object as a Response; anything else is a ``ServerError``.

    The Response keeps the body's bytes (``raw_json``, encoded here when not given),
    not the parsed dict: a 100,000-row fan-out would spend most of its memory on those.
    """
    try:
        choice = body["choices"][0]
        text = _text_of(choice["message"].get("content"))
    except (KeyError, IndexError, TypeError, AttributeError):
        raise errors.ServerError(
            f"The server sent a response without choices: {json.dumps(body)[:200]}"
        ) from None
    usage = _usage(body.get("usage"))
    return Response(
        text=text,
        model=body.get("model") or request.model,
        usage=usage or Usage(estimate_prompt_tokens(request.messages),
                             estimate_text_tokens(text)),
        cost_usd=None if usage is None else cost_usd(request.model, usage, prices=prices),
        latency_s=latency,
        finish_reason=choice.get("finish_reason"),
        raw_json=raw_json if raw_json is not None else encode_json(body),
    )


@dataclass
class StreamProgress:
    """What a stream said so far: its text and tool calls, and whether and why it finished."""

    model: str
    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)  # by their ``index``

    def add(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; returns its text delta ('' for role, finish and usage chunks)."""
        self.model = chunk.get("model") or self.model
        self.usage = _usage(chunk.get("usage")) or self.usage
        choices = chunk.get("choices") or []
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return ""
        choice = choices[0]
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return ""
        if delta.get("tool_calls"):
            self._add_tool_calls(delta["tool_calls"])
        text = _text_of(delta.get("content"))
        if text:
            self.parts.append(text)
        return text

    def _add_tool_calls(self, pieces: Any) -> None:
        """Tool-call deltas joined per ``index``: id, type and name as they come, the
        arguments' pieces in order (a whole message's calls have no index: their place)."""
        if not isinstance(pieces, list):
            return
        for place, piece in enumerate(pieces):
            if not isinstance(piece, dict):
                continue
            index = piece.get("index")
            call = self.tool_calls.setdefault(
                index if isinstance(index, int) else place,
                {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
            call["id"] = piece.get("id") or call["id"]
            call["type"] = piece.get("type") or call["type"]
            function = piece.get("function")
            if isinstance(function, dict):
                for key in ("name", "arguments"):
                    if isinstance(function.get(key), str):
                        call["function"][key] += function[key]

    def _body(self, usage: Usage | None) -> bytes | None:
        """A stream with tool calls as the ``chat.completion`` body it stands for (``raw``)."""
        if not self.tool_calls:
            return None
        message = {"role": "assistant", "content": self.text or None,
                   "tool_calls": [self.tool_calls[i] for i in sorted(self.tool_calls)]}
        body: dict[str, Any] = {"object": "chat.completion", "model": self.model, "choices": [
            {"index": 0, "message": message, "finish_reason": self.finish_reason}]}
        if usage is not None:
            body["usage"] = {"prompt_tokens": usage.prompt_tokens,
                             "completion_tokens": usage.completion_tokens,
                             "total_tokens": usage.total_tokens}
        return encode_json(body)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def response(self, request: Request, *, latency_s: float, ttft_s: float,
                 prices: Prices | None = None) -> Response:
        usage = self.usage  # None: the server ignored stream_options.include_usage
        return Response(
            text=self.text,
            model=self.model,
            usage=usage or Usage(estimate_prompt_tokens(request.messages), len(self.parts)),
            cost_usd=None if usage is None else cost_usd(request.model, usage, prices=prices),
            latency_s=latency_s,
            ttft_s=ttft_s,
            finish_reason=self.finish_reason,
            raw_json=self._body(usage),
        )
