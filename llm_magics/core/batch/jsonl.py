"""Requests to batch JSONL lines, and output/error lines back to outcomes.

A ``custom_id`` is ``req-<position>-<hash>``: the position of the first input
that asked this exact request, and the start of its cache key. It is stable
(the same input gives the same id, so a job can be matched to its files
later), unique per position, and readable in OpenAI's dashboard.

Output lines become ``Response`` objects through the engine's own parser, so a
batch answer and a sync answer for the same body are the same value (bar the
price: batch lines cost ``BATCH_DISCOUNT`` of the sync price, priced by the
model asked for, as the engine prices sync calls). Error lines become the
``LLMError`` a sync call with that status would have raised; lines that never
ran (expired, cancelled, failed validation, not sent) say why and what to do.

    >>> from llm_magics.core.types import Request
    >>> r = Request([{"role": "user", "content": "hi"}], "gpt-4o-mini", "http://x/v1")
    >>> line = build_line(custom_id_for(0, r.cache_key()), r.body())
    >>> json.loads(line)["url"]
    '/v1/chat/completions'
"""

from __future__ import annotations

import functools
import gc
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ... import errors
from ..answer import response_from_body
from ..cost import Prices, cost_usd, price_of
from ..types import Outcome, Request, Response, Usage
from .constants import BATCH_ENDPOINT, CUSTOM_ID_HASH_CHARS

__all__ = [
    "custom_id_for",
    "build_line",
    "parse_jsonl",
    "Outcome",
    "LineResult",
    "read_record",
    "outcome_from_record",
    "synthetic_record",
    "error_for_status",
    "gc_paused",
    "line_prices",
]

_SEPARATORS = (",", ":")
_ENCODE = json.JSONEncoder(separators=_SEPARATORS, ensure_ascii=False).encode
"""One encoder for every line: ``json.dumps`` with options builds a new one per call."""


def custom_id_for(position: int, cache_key: str) -> str:
    return f"req-{position}-{cache_key[:CUSTOM_ID_HASH_CHARS]}"


def build_line(custom_id: str, body: dict[str, Any], url: str = BATCH_ENDPOINT) -> str:
    """One JSONL line (without the newline), compact and UTF-8 friendly."""
    return _ENCODE({"custom_id": custom_id, "method": "POST", "url": url, "body": body})


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while decoding a whole batch file (re-entrant, thread-safe).

    Decoding 50,000 records allocates about a million dicts and lists, none of
    them garbage; the collector would rescan them again and again, which made
    reading a large output file two to three times slower.
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


def parse_jsonl(content: bytes | str) -> list[tuple[dict[str, Any], str]]:
    """Every ``(record, raw line)`` of a JSONL file; a line that is not one is skipped.

    The server wrote these files; one corrupt line must not hide every other
    answer (its request then shows as "no result" and can be retried). The raw
    line is kept so storing a record costs no second encoding.
    """
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    records: list[tuple[dict[str, Any], str]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("custom_id"), str):
            records.append((item, raw))
    return records


@dataclass(frozen=True, slots=True)
class LineResult:
    """What the job store keeps for one finished line: the record and its price."""

    custom_id: str
    ok: bool
    record: str
    """The output/error line as JSON: parsed again by ``outcome_from_record`` when read."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    sync_cost_usd: float | None = None


def read_record(record: dict[str, Any], default_model: str, raw: str | None = None, *,
                prices: Prices | None = None) -> LineResult:
    """Judge one output/error record and price it (batch and sync) from its usage."""
    custom_id = record["custom_id"]
    text = raw if raw is not None else _ENCODE(record)
    response = record.get("response") or {}
    status = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    if record.get("error") or not isinstance(status, int) or status >= 400:
        return LineResult(custom_id, False, text)
    if not isinstance(body, dict):
        return LineResult(custom_id, False, text)
    usage = body.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    batch_cost, sync_cost = line_prices(default_model, Usage(prompt, completion), prices)
    return LineResult(custom_id, True, text, prompt, completion, batch_cost, sync_cost)


@functools.lru_cache(maxsize=256)
def _priced(model: str) -> bool:
    return price_of(model) is not None


def line_prices(model: str, usage: Usage, prices: Prices | None = None
                ) -> tuple[float | None, float | None]:
    """``(batch, sync)`` cost of one answer, by the model that was asked for (as the engine
    prices sync calls; the answer may name a dated snapshot). Unknown price: ``None``.
    ``prices`` are the user's (the ``prices`` setting)."""
    if not _priced(model) and price_of(model, prices) is None:
        return None, None
    return cost_usd(model, usage, batch=True, prices=prices), cost_usd(model, usage,
                                                                        prices=prices)


def synthetic_record(custom_id: str, code: str, message: str) -> dict[str, Any]:
    """An error record for a line the server gave no record for (failed batch, not sent)."""
    return {"custom_id": custom_id, "response": None, "error": {"code": code, "message": message}}


def error_for_status(status: int, message: str, request_id: str | None = None) -> errors.LLMError:
    """The error a sync call would raise for this HTTP status, as a value in its row."""
    context = {"status_code": status, "request_id": request_id}
    if status in (401, 403):
        return errors.AuthenticationError(
            f"The batch request was refused ({status}): {message}. Check the API key.", **context)
    if status == 404:
        return errors.ModelNotFoundError(
            f"The batch request named an unknown model (404): {message}.", **context)
    if status == 429:
        return errors.RateLimitError(
            f"The batch request was rate limited (429): {message}. "
            "job.retry_failed() sends it again.", **context)
    if status >= 500 or status in (408, 409):
        return errors.ServerError(
            f"The batch request failed on the server ({status}): {message}. "
            "job.retry_failed() sends it again.", **context)
    return errors.InvalidRequestError(f"The batch request was refused ({status}): {message}",
                                      **context)


_NOT_RUN: dict[str, tuple[type[errors.LLMError], str]] = {
    "batch_expired": (errors.APITimeoutError,
                      "Not run: the batch's 24 h window ended before this request ran"),
    "batch_cancelled": (errors.CancelledError, "Not run: the batch was cancelled"),
    "batch_failed": (errors.InvalidRequestError, "Not run: the batch failed validation"),
    "not_submitted": (errors.LLMError, "Not sent: the batch holding it could not be created"),
    "no_result": (errors.ServerError, "The server returned no result for this request"),
}


def outcome_from_record(record: dict[str, Any], model: str, base_url: str,
                        prices: Prices | None = None) -> Outcome:
    """A stored record back to the value in its row: a ``Response`` or an ``LLMError``."""
    if "cached" in record:
        return Response.from_dict(record["cached"], cached=True)
    response = record.get("response")
    error = record.get("error")
    if isinstance(response, dict) and isinstance(response.get("status_code"), int):
        status = response["status_code"]
        body = response.get("body")
        if status < 400 and not error and isinstance(body, dict):
            result = response_from_body(body, _proto(model, base_url), 0.0)
            result.cost_usd = line_prices(model, result.usage, prices)[0]
            return result
        return error_for_status(status, _server_message(body), response.get("request_id"))
    code = error.get("code") if isinstance(error, dict) else None
    message = (error.get("message") if isinstance(error, dict) else None) or "no details"
    cls, lead = _NOT_RUN.get(code or "", (errors.LLMError, f"The batch request failed ({code})"))
    hint = "" if code == "batch_failed" else " job.retry_failed() sends it again."
    return cls(f"{lead}: {message}.{hint}".replace("..", "."))


@functools.lru_cache(maxsize=64)
def _proto(model: str, base_url: str) -> Request:
    """The request stand-in the engine's parser needs (it reads the model name only)."""
    return Request([], model, base_url)


def _server_message(body: Any) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return json.dumps(body)[:200] if body is not None else "no details"
