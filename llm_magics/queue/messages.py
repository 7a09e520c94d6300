"""What travels through Redis: task messages and task results, as plain JSON.

A task message holds what the server must see and nothing else: ``base_url``,
``model``, ``messages``, ``params`` (plus ``cache: false`` when the caller turned
the cache off). Never the API key: a worker sends its own key, from its own
environment, and only to the base URL it was started for (see ``runtime``).
Broker contents are readable by anyone with access to Redis, and Celery logs
task results, so neither may carry a secret.

A result is ``{"response": Response.to_dict(), "cached": bool, "stats": {...}}``
or ``{"error": {...}, "stats": {...}}``: errors come back as values, like in a
local fan-out, and are rebuilt as the same ``llm_magics.errors`` class.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..core.call_stats import CallStats
from ..core.types import Priority, Request, Response
from . import errors as queue_errors

__all__ = ["encode_request", "decode_request", "encode_response", "encode_error",
           "decode_result", "merge_stats", "as_cached"]

_MESSAGE_FIELDS = ("base_url", "model", "messages", "params")
# Worker-side counters worth adding to the submitter's CallStats (the rest it counts itself).
_STAT_FIELDS = ("attempts", "retries", "rate_limited")
# Error attributes that are context, safe to carry (the key never is: translate_error masks it).
_ERROR_CONTEXT = ("status_code", "request_id", "retry_after_s", "partial_text", "raw_text")


def encode_request(request: Request, *, use_cache: bool = True) -> dict[str, Any]:
    message = {
        "base_url": request.base_url,
        "model": request.model,
        "messages": request.messages,
        "params": request.params,
    }
    if not use_cache:
        message["cache"] = False
    return message


def decode_request(message: dict[str, Any], priority: Priority) -> tuple[Request, bool]:
    """The request in a task message, and whether the cache may answer it."""
    if not isinstance(message, dict) or any(k not in message for k in _MESSAGE_FIELDS):
        raise errors.InvalidRequestError(
            f"Not an llm-magics task message (needs {', '.join(_MESSAGE_FIELDS)})."
        )
    request = Request(
        messages=message["messages"],
        model=message["model"],
        base_url=message["base_url"],
        params=dict(message["params"] or {}),
        priority=priority,
    )
    return request, bool(message.get("cache", True))


def _stats_dict(stats: CallStats) -> dict[str, int]:
    return {name: getattr(stats, name) for name in _STAT_FIELDS}


def encode_response(response: Response, stats: CallStats) -> dict[str, Any]:
    return {"response": response.to_dict(), "cached": response.cached,
            "stats": _stats_dict(stats)}


def as_cached(result: dict[str, Any]) -> dict[str, Any]:
    """A stored answer handed to another task of the same request: a cache hit, no attempts."""
    return {**result, "cached": True, "stats": {name: 0 for name in _STAT_FIELDS}}


def encode_error(err: errors.LLMError, stats: CallStats) -> dict[str, Any]:
    context = {k: getattr(err, k) for k in _ERROR_CONTEXT if getattr(err, k, None) is not None}
    return {"error": {"type": type(err).__name__, "message": err.message, **context},
            "stats": _stats_dict(stats)}


def _error_class(name: str) -> type[errors.LLMError]:
    for module in (errors, queue_errors):
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, errors.LLMError):
            return cls
    return errors.LLMError


def _decode_error(data: dict[str, Any]) -> errors.LLMError:
    cls = _error_class(str(data.get("type", "")))
    message = str(data.get("message", "The worker reported an error without a message."))
    kw = {k: data[k] for k in ("status_code", "request_id", "retry_after_s") if k in data}
    err = cls(message, **kw)
    for k in ("partial_text", "raw_text"):
        if k in data:
            setattr(err, k, data[k])
    return err


def decode_result(result: Any) -> tuple[Response | errors.LLMError, dict[str, int]]:
    """Outcome and worker-side counters from a task's return value."""
    if isinstance(result, dict) and "response" in result:
        response = Response.from_dict(result["response"], cached=bool(result.get("cached")))
        return response, result.get("stats") or {}
    if isinstance(result, dict) and "error" in result:
        return _decode_error(result["error"]), result.get("stats") or {}
    return errors.LLMError(f"The worker returned something unexpected: {result!r:.120}"), {}


def merge_stats(stats: CallStats, worker_stats: dict[str, int]) -> None:
    for name in _STAT_FIELDS:
        value = worker_stats.get(name)
        if isinstance(value, int):
            setattr(stats, name, getattr(stats, name) + value)
