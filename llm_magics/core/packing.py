"""Row packing (``pack=N``): N row requests as one request, and its answer split back per row.

A packed request keeps what its rows share (model, params, the messages before
the last) and replaces the last user message with an instruction and the rows'
prompts as JSON items, each with an id. A ``json_schema`` response format asks
for ``{"answers": [{"id": ..., "answer": ...}]}``. Only rows that differ in
nothing but the text of their last user message pack together; any other row
is sent alone.

A row's answer is *its own*, and so may serve (and be cached under) the row's
own unpacked cache key, only when the reply ended normally (``finish_reason``
"stop"), parsed against the schema, and holds the row's id exactly once with a
non-empty string answer. A row that is missing, duplicated or invalid gets no
answer from the pack: it is re-sent alone. A packed request is never cached
itself: what a re-run needs is each row's answer, whatever its pack.

    >>> from llm_magics.core.types import Request
    >>> rows = [Request([{"role": "user", "content": w}], "m", "u") for w in ("cat", "dog")]
    >>> packed = pack_rows(rows)
    >>> packed.ids, unpack_items(packed.request.body())[1]
    (['1', '2'], [('1', 'cat'), ('2', 'dog')])
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import errors
from .constants import PACK_AUTO_ANSWER_TOKENS, PACK_AUTO_MAX_ROWS, PACK_ROW_OVERHEAD_TOKENS
from .jsoncodec import encode_json
from .tokens import DEFAULT_COMPLETION_ESTIMATE
from .types import MAX_TOKEN_FIELDS, Request, Response, Usage

__all__ = [
    "PACK_SCHEMA_NAME", "Packed", "pack_size", "packable_groups", "pack_rows", "split_reply",
    "row_answers", "unpack_items",
]

PACK_SCHEMA_NAME = "llm_magics_packed_rows"
_ITEMS_MARK = "\nITEMS:\n"
_INSTRUCTION = (
    "Answer each item below on its own, exactly as if it were the only message you "
    "received. Reply with JSON only: {\"answers\": [{\"id\": \"<the item's id>\", "
    "\"answer\": \"<your whole answer to that item>\"}]}, one entry per item, each id once."
)
_UNPACKABLE_PARAMS = ("response_format", "tools", "functions", "n", "logprobs", "stream")
_SCHEMA = {
    "type": "object",
    "properties": {"answers": {"type": "array", "items": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "answer": {"type": "string"}},
        "required": ["id", "answer"], "additionalProperties": False}}},
    "required": ["answers"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema",
                   "json_schema": {"name": PACK_SCHEMA_NAME, "strict": True, "schema": _SCHEMA}}


@dataclass(frozen=True)
class Packed:
    """One packed request and the row keys its item ids stand for, in item order."""

    request: Request
    ids: list[str]
    keys: list[str]


def pack_size(pack: int | str | None, requests: Iterable[Request] = ()) -> int:
    """Rows per request for ``pack=``: 1 is no packing; ``"auto"`` fits the expected answers.

    ``"auto"`` packs as many rows as their expected answers (``max_tokens``, else
    the default estimate) fit in ``PACK_AUTO_ANSWER_TOKENS``, at most ``PACK_AUTO_MAX_ROWS``.
    """
    if pack is None:
        return 1
    if pack == "auto":
        longest = max((r.max_tokens or DEFAULT_COMPLETION_ESTIMATE for r in requests),
                      default=DEFAULT_COMPLETION_ESTIMATE)
        fits = PACK_AUTO_ANSWER_TOKENS // (longest + PACK_ROW_OVERHEAD_TOKENS)
        return max(1, min(PACK_AUTO_MAX_ROWS, fits))
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        raise errors.InvalidRequestError(
            f"pack={pack!r}: pass a number of rows per request (pack=10), pack='auto' "
            "to size packs from the expected answer length, or leave it out (one row a request).")
    return pack


def _group_key(request: Request) -> str | None:
    """What rows must share to pack together; ``None`` for a row that must go alone."""
    last = request.messages[-1]
    if set(last) != {"role", "content"} or last["role"] != "user" or not isinstance(
            last["content"], str):
        return None
    if any(request.params.get(p) for p in _UNPACKABLE_PARAMS):
        return None
    return json.dumps([request.base_url, request.model, request.messages[:-1], request.params,
                       request.priority], sort_keys=True, default=str)


def packable_groups(requests: Mapping[str, Request], size: int) -> list[list[str]]:
    """Row keys in packs of up to ``size`` (first-seen order); a pack of one is a row alone."""
    groups: dict[str, list[str]] = {}
    alone: list[list[str]] = []
    for key, request in requests.items():
        group = _group_key(request) if size > 1 else None
        if group is None:
            alone.append([key])
        else:
            groups.setdefault(group, []).append(key)
    packs = [keys[i:i + size] for keys in groups.values() for i in range(0, len(keys), size)]
    return packs + alone


def pack_rows(rows: list[Request], keys: list[str] | None = None) -> Packed:
    """The packed request for ``rows`` (which share everything but their last message's text).

    Rows with ``max_tokens`` (under a budget every row has one: ``core.budget``) give the
    pack room for each of their answers and its framing.
    """
    first = rows[0]
    ids = [str(i + 1) for i in range(len(rows))]
    items = [{"id": i, "prompt": r.messages[-1]["content"]} for i, r in zip(ids, rows, strict=True)]
    content = _INSTRUCTION + _ITEMS_MARK + json.dumps(items, ensure_ascii=False)
    params = {k: v for k, v in first.params.items() if k not in MAX_TOKEN_FIELDS}
    params["response_format"] = RESPONSE_FORMAT
    for name in MAX_TOKEN_FIELDS:
        if first.params.get(name):
            params[name] = len(rows) * (first.params[name] + PACK_ROW_OVERHEAD_TOKENS)
    request = Request([*first.messages[:-1], {"role": "user", "content": content}],
                      first.model, first.base_url, params, first.priority)
    return Packed(request, ids, keys if keys is not None else [r.cache_key() for r in rows])


def unpack_items(
        body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]] | None:
    """A packed body's shared messages and its (id, prompt) items (``None``: not a packed body).

    Used by the simulator, to answer each item as it answers the row sent alone.
    """
    spec = (body.get("response_format") or {}).get("json_schema") or {}
    messages = body.get("messages") or []
    if spec.get("name") != PACK_SCHEMA_NAME or not messages:
        return None
    content = messages[-1].get("content")
    if not isinstance(content, str) or _ITEMS_MARK not in content:
        return None
    try:
        items = json.loads(content.split(_ITEMS_MARK, 1)[1])
        return list(messages[:-1]), [(str(item["id"]), str(item["prompt"])) for item in items]
    except (ValueError, TypeError, KeyError):
        return None


def split_reply(text: str, finish_reason: str | None, ids: list[str]) -> dict[str, str]:
    """The answers of a packed reply that are their row's own, by id; the others are absent."""
    if finish_reason != "stop":
        return {}  # cut short: whatever parsed may be half an answer
    try:
        entries = json.loads(text)["answers"]
    except (ValueError, TypeError, KeyError):
        return {}
    if not isinstance(entries, list):
        return {}
    wanted = set(ids)
    seen: dict[str, int] = {}
    answers: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("id") not in wanted:
            continue
        row_id = entry["id"]
        seen[row_id] = seen.get(row_id, 0) + 1
        answer = entry.get("answer")
        if isinstance(answer, str) and answer.strip():
            answers[row_id] = answer
    return {i: a for i, a in answers.items() if seen[i] == 1}


def row_answers(packed: Packed, reply: Response) -> dict[str, Response]:
    """Each row's own answer (by row key) as a ``Response`` carrying its share of the reply's
    usage and cost; the rows that answer them pay for the whole packed call between them."""
    answers = split_reply(reply.text, reply.finish_reason, packed.ids)
    if not answers:
        return {}
    count = len(answers)
    chars = sum(len(a) for a in answers.values()) or 1
    prompt, completion = reply.usage.prompt_tokens, reply.usage.completion_tokens
    out: dict[str, Response] = {}
    for n, (row_id, text) in enumerate(answers.items()):
        share = Usage(prompt // count + (prompt % count if n == 0 else 0),
                      completion * len(text) // chars)
        if n == 0:  # integer shares: the first row takes the rounding, so they sum exactly
            rest = completion - sum(completion * len(a) // chars for a in answers.values())
            share = Usage(share.prompt_tokens, share.completion_tokens + rest)
        weight = share.total_tokens / reply.usage.total_tokens if reply.usage.total_tokens else 0
        out[packed.keys[packed.ids.index(row_id)]] = Response(
            text=text, model=reply.model, usage=share,
            cost_usd=None if reply.cost_usd is None else reply.cost_usd * weight,
            latency_s=reply.latency_s, finish_reason="stop",
            raw_json=encode_json({"packed": {"rows": len(packed.ids), "id": row_id}}))
    return out
