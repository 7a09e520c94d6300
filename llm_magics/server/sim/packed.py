"""Packed requests (``pack=N``): each item answered exactly as its row sent alone is answered.

A packed body (``core.packing``) carries its rows' prompts as items; the
simulator answers each with the text it gives the row's own request (same
model, the shared messages, the item as the last user message), so a test can
check that every row got its own answer and that it equals the unpacked one.

Faults, only ever in a packed reply (the row sent alone is answered cleanly):

    PACKED:drop / PACKED:dup / PACKED:bad   at the start of an item's prompt: that item's
                                            answer is left out, given twice (two different
                                            answers), or not a string
    pack_fault_rate                         that share of items, picked by a hash of the item
                                            and the seed, get one of the three

An item whose prompt forces a status (``STATUS:400``) is left out too: only
sent alone can it get that status. A packed reply is cut at the body's
``max_tokens`` like any other (``finish_reason`` "length").
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from ...core.packing import unpack_items
from .answers import Answer, compute_answer, parse_directives, split_pieces
from .config import SimConfig

__all__ = ["packed_answer", "PACK_FAULTS"]

PACK_FAULTS = ("drop", "dup", "bad")
_DIRECTIVE = re.compile(r"\s*PACKED:(drop|dup|bad)\b")


def _fault(prompt: str, config: SimConfig) -> str | None:
    if match := _DIRECTIVE.match(prompt):
        return match.group(1)
    if parse_directives(prompt).status is not None:
        return "drop"
    if not config.pack_fault_rate:
        return None
    digest = hashlib.sha256(f"{config.seed}:{prompt}".encode()).digest()
    if int.from_bytes(digest[:4], "big") / 2**32 >= config.pack_fault_rate:
        return None
    return PACK_FAULTS[digest[4] % len(PACK_FAULTS)]


def _entries(item_id: str, text: str, fault: str | None) -> list[dict[str, Any]]:
    if fault == "drop":
        return []
    if fault == "dup":
        return [{"id": item_id, "answer": text}, {"id": item_id, "answer": text[::-1]}]
    if fault == "bad":
        return [{"id": item_id, "answer": len(text)}]
    return [{"id": item_id, "answer": text}]


def packed_answer(body: Mapping[str, Any], config: SimConfig) -> Answer | None:
    """The answer to a packed request, or ``None`` when ``body`` is not one."""
    unpacked = unpack_items(body)
    if unpacked is None:
        return None
    shared, items = unpacked
    entries: list[dict[str, Any]] = []
    for item_id, prompt in items:
        row = {"model": body.get("model"),
               "messages": [*shared, {"role": "user", "content": prompt}]}
        entries += _entries(item_id, compute_answer(row, config).text, _fault(prompt, config))
    pieces = split_pieces(json.dumps({"answers": entries}, ensure_ascii=False))
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and 0 < limit < len(pieces):
        return Answer(pieces[:limit], "length")
    return Answer(pieces, "stop")
