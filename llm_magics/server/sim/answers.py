"""What the simulator answers: deterministic text, its tokens, and in-prompt directives.

Tests everywhere in the project assert exact model output, so the answer is a
pure function of the request (model, messages, response format) and the
config, exposed as :func:`expected_answer`. The same function serves the sync
endpoint, every stream chunk and every batch line, which is what lets a test
say "the batch gave the same text as the sync call".

Directives at the start of the last user message steer one request without
reconfiguring the server (several may be chained, separated by spaces)::

    STATUS:429        answer with this HTTP status (OpenAI-shaped error body)
    SLEEP:0.5         wait this many seconds before answering
    TOKENS:40         answer with this many tokens instead of ``answer_tokens``
    DROP:3            streams drop the connection after 3 content tokens
    MALFORMED:2       streams emit a non-JSON chunk after 2 content tokens
    HANG:             accept and never answer (until ``hang_max_s``)
    ECHO: text        answer ``text`` verbatim (one space after the colon is dropped)
    BADJSON: text     answer invalid JSON, to test structured-output validation
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .config import SimConfig
from .schema_fill import fill_schema

_VOCAB = (
    "alpha bravo cedar delta ember fable garnet harbor ivory jasper kettle lumen "
    "meadow nectar orbit pepper quartz river saffron timber umber velvet willow "
    "xenon yonder zephyr amber basil cobalt dune echo fjord glacier hazel indigo "
    "juniper kelp lagoon maple nimbus olive prairie quill raven sierra tundra "
    "umbra vista wren yarrow zinc acorn birch comet drift".split()
)
_PIECE = re.compile(r"\s*\S+|\s+")
_VALUED = re.compile(r"(STATUS|SLEEP|TOKENS|DROP|MALFORMED|HANG):(\S*)\s*")
_PAYLOAD = ("ECHO:", "BADJSON:")


@dataclass(frozen=True)
class Directives:
    """Per-request overrides parsed from the last user message."""

    status: int | None = None
    sleep_s: float = 0.0
    tokens: int | None = None
    drop_after: int | None = None
    malformed_after: int | None = None
    hang: bool = False
    echo: str | None = None
    badjson: str | None = None


@dataclass(frozen=True)
class Answer:
    """One choice: its token pieces (joined = the text) and why it ended."""

    pieces: tuple[str, ...]
    finish_reason: str

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message whose content is a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, Mapping)
        )
    return ""


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message_text(message)
    return ""


def parse_directives(text: str) -> Directives:
    """Read the directive prefix of ``text``; anything malformed ends the prefix."""
    values: dict[str, Any] = {}
    pos = len(text) - len(text.lstrip())
    while True:
        match = _VALUED.match(text, pos)
        if not match:
            break
        name, raw = match.groups()
        try:
            if name == "STATUS":
                values["status"] = int(raw)
            elif name == "SLEEP":
                values["sleep_s"] = max(float(raw), 0.0)
            elif name == "TOKENS":
                values["tokens"] = max(int(raw), 1)
            elif name == "DROP":
                values["drop_after"] = max(int(raw or 0), 0)
            elif name == "MALFORMED":
                values["malformed_after"] = max(int(raw or 0), 0)
            else:
                values["hang"] = True
        except ValueError:
            break
        pos = match.end()
    rest = text[pos:]
    for prefix in _PAYLOAD:
        if rest.startswith(prefix):
            payload = rest[len(prefix):]
            payload = payload[1:] if payload.startswith(" ") else payload
            values["echo" if prefix == "ECHO:" else "badjson"] = payload
            break
    return Directives(**values)


def request_digest(request: Mapping[str, Any], index: int = 0) -> str:
    """Eight hex digits identifying what was asked; the seed of the default answer."""
    key = [request.get("model"), request.get("messages"), request.get("response_format")]
    if index:
        key.append(index)
    raw = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:8]


def split_pieces(text: str) -> tuple[str, ...]:
    """Word-piece tokens with their leading whitespace, so that joining restores ``text``."""
    return tuple(_PIECE.findall(text))


def estimate_tokens(text: str) -> int:
    """About four characters per token, like OpenAI's own rule of thumb; never zero."""
    return max(1, (len(text) + 3) // 4)


def estimate_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Prompt tokens: text estimate plus the per-message overhead chat formats add."""
    total = 3
    for message in messages:
        if isinstance(message, Mapping):
            total += 4 + estimate_tokens(message_text(message))
    return total


def _default_text(digest: str, count: int) -> str:
    rng = random.Random(int(digest, 16))
    words = rng.choices(_VOCAB, k=count - 1)
    return " ".join([f"sim-{digest}", *words])


def _json_text(request: Mapping[str, Any], digest: str, config: SimConfig) -> str | None:
    response_format = request.get("response_format")
    if not isinstance(response_format, Mapping):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        value = fill_schema(schema if isinstance(schema, dict) else {}, seed=digest)
        return json.dumps(value, ensure_ascii=False)
    if kind == "json_object":
        text = _default_text(digest, min(config.answer_tokens, 8))
        return json.dumps({"answer": text, "digest": digest})
    return None


def compute_answer(
    request: Mapping[str, Any],
    config: SimConfig | None = None,
    index: int = 0,
    directives: Directives | None = None,
) -> Answer:
    """The answer for choice ``index`` of ``request``, cut to its token limit."""
    config = config or SimConfig()
    if directives is None:
        directives = parse_directives(last_user_text(request.get("messages") or []))
    digest = request_digest(request, index)
    if directives.echo is not None:
        text = directives.echo
    elif directives.badjson is not None:
        text = '{"answer": "' + (directives.badjson or "unterminated")
    else:
        json_text = _json_text(request, digest, config)
        if json_text is not None:
            text = json_text
        else:
            text = _default_text(digest, directives.tokens or config.answer_tokens)
    pieces = split_pieces(text)
    limit = request.get("max_completion_tokens")
    if limit is None:
        limit = request.get("max_tokens")
    if isinstance(limit, int) and 0 < limit < len(pieces):
        return Answer(pieces[:limit], "length")
    return Answer(pieces, "stop")


def expected_answer(
    request: Mapping[str, Any], config: SimConfig | None = None, index: int = 0
) -> str:
    """The exact text the simulator returns for ``request`` (a chat-completions body dict).

    Tests import this to assert output without hard-coding strings; pass the
    same config the server runs with (only ``answer_tokens`` matters).
    """
    return compute_answer(request, config, index).text
