"""Validating a batch input file: OpenAI's error codes, with 1-based line numbers.

A bad file fails the whole batch (status ``failed``, ``errors.data`` lists
each bad line) rather than failing at upload, as OpenAI does. The library's
reader in ``core.batch.jsonl`` is deliberately lenient (it skips a corrupt
*output* line); this one is strict because it guards what a server accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..chat_request import INVALID_JSON_MESSAGE, parse_json
from ..constants import MAX_BATCH_LINES
from ..openai_shapes import ErrorReply

__all__ = ["BatchLine", "line_error", "validate_input"]


@dataclass
class BatchLine:
    custom_id: str
    body: Any


def line_error(code: str, message: str, line: int | None, param: str | None = None
               ) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def _check(item: Any, number: int, endpoint: str, seen: set[str]) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return line_error("invalid_json_line", "Each line must be a JSON object.", number)
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return line_error("missing_required_parameter",
                          "Missing required parameter: 'custom_id'.", number, "custom_id")
    if custom_id in seen:
        return line_error(
            "duplicate_custom_id",
            "The custom_id for this request is a duplicate of another request. The "
            "custom_id parameter must be unique for each request in a batch.",
            number, "custom_id")
    seen.add(custom_id)
    if item.get("method") != "POST":
        return line_error("invalid_method", "The method for this request must be 'POST'.",
                          number, "method")
    if item.get("url") != endpoint:
        return line_error(
            "invalid_url",
            "The URL provided for this request does not match the batch endpoint.",
            number, "url")
    if not isinstance(item.get("body"), dict):
        return line_error("missing_required_parameter", "Missing required parameter: 'body'.",
                          number, "body")
    return None


def validate_input(content: bytes, endpoint: str) -> tuple[list[BatchLine], list[dict]]:
    """Parse the JSONL input into lines, or the list of per-line errors that fail the batch."""
    lines: list[BatchLine] = []
    errors: list[dict] = []
    seen: set[str] = set()
    raw_lines = content.decode("utf-8", "replace").splitlines()
    requests = sum(1 for raw in raw_lines if raw.strip())
    if not requests:
        return [], [line_error("empty_file", "The batch input file is empty.", None)]
    if requests > MAX_BATCH_LINES:  # refused before parsing: a million bodies do not fit memory
        return [], [line_error(
            "too_many_requests_in_batch",
            f"The batch input file has {requests} requests; a batch holds at most "
            f"{MAX_BATCH_LINES}. Split it into several files and batches.", None)]
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            item = parse_json(raw.encode())
        except ErrorReply as err:
            detail = "" if err.message == INVALID_JSON_MESSAGE else f" {err.message}"
            errors.append(line_error(
                "invalid_json_line", "This line is not parseable as valid JSON." + detail, number))
            continue
        problem = _check(item, number, endpoint, seen)
        if problem is not None:
            errors.append(problem)
            continue
        lines.append(BatchLine(item["custom_id"], item["body"]))
    return lines, errors
