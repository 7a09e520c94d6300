"""OpenTelemetry spans for calls, following the GenAI semantic conventions (optional).

When ``opentelemetry-api`` is importable and the application has set a tracer
provider, every recorded call is also a ``chat <model>`` client span with the
``gen_ai.*`` attributes (operation, request and response model, input and
output tokens, finish reason), ``server.address``, the cost and the face and
mode, a ``gen_ai.cache.hit`` event for an answer from the cache and one
``gen_ai.retry`` event per retry. Prompt and answer text go on the span only
with ``trace_text=True``. Install with ``pip install "llm-exec-magics[otel]"``.

The span is made when the outcome is known, back-dated to when the call
started, in the caller's OpenTelemetry context (it follows the call to the
core's event loop), so it nests under whatever span the caller had open.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from ..types import Request
from .log import COLUMNS

__all__ = ["active", "emit"]

_AT = {name: i for i, (name, _) in enumerate(COLUMNS)}


@functools.lru_cache(maxsize=1)
def _trace() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def active() -> bool:
    """A tracer provider is set (the API's default proxy or no-op provider records nothing)."""
    trace = _trace()
    if trace is None:
        return False
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def emit(row: tuple[Any, ...], request: Request, answer: str | None, *, text: bool) -> None:
    """One span for one call-log row (a no-op unless tracing is active)."""
    if not active():
        return
    trace = _trace()
    get = row.__getitem__
    end_ns = time.time_ns()
    took = get(_AT["latency_s"])
    start_ns = end_ns - int(took * 1e9) if took else end_ns
    span = trace.get_tracer("llm_magics").start_span(
        f"chat {request.model}", kind=trace.SpanKind.CLIENT, start_time=start_ns,
        attributes=_attributes(row, request))
    if get(_AT["cached"]):
        span.add_event("gen_ai.cache.hit", timestamp=start_ns)
    for attempt in range(get(_AT["retries"]) or 0):
        span.add_event("gen_ai.retry", {"llm_magics.attempt": attempt + 2})
    if text:
        span.set_attribute("gen_ai.input.messages", json.dumps(request.messages))
        if answer is not None:
            span.set_attribute("gen_ai.output.messages", json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]))
    if get(_AT["status"]) != "ok":
        span.set_attribute("error.type", get(_AT["error_kind"]))
        span.set_status(trace.Status(trace.StatusCode.ERROR, get(_AT["error_kind"])))
    span.end(end_time=end_ns)


def _attributes(row: tuple[Any, ...], request: Request) -> dict[str, Any]:
    host, _, port = row[_AT["host"]].rpartition(":")
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": request.model,
        "server.address": host or row[_AT["host"]],
        "llm_magics.face": row[_AT["face"]],
        "llm_magics.mode": row[_AT["mode"]],
    }
    if host and port.isdigit():
        attrs["server.port"] = int(port)
    for param, name in (("temperature", "temperature"), ("top_p", "top_p"),
                        ("max_tokens", "max_tokens"), ("seed", "seed")):
        if isinstance(request.params.get(param), (int, float)):
            attrs[f"gen_ai.request.{name}"] = request.params[param]
    optional = {
        "gen_ai.usage.input_tokens": row[_AT["prompt_tokens"]],
        "gen_ai.usage.output_tokens": row[_AT["completion_tokens"]],
        "llm_magics.cost_usd": row[_AT["cost_usd"]],
        "llm_magics.ttft_s": row[_AT["ttft_s"]],
        "llm_magics.job_id": row[_AT["job_id"]],
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    if row[_AT["status"]] == "ok":
        attrs["gen_ai.response.model"] = request.model
        if row[_AT["finish_reason"]]:
            attrs["gen_ai.response.finish_reasons"] = [row[_AT["finish_reason"]]]
    return attrs
