"""OpenTelemetry spans for calls, with the SDK's in-memory exporter and the real simulator.

The tracer provider is process-wide and can be set only once, so this module
sets one for the session; the exporter is cleared before each test.
"""

from __future__ import annotations

import json

import pytest

import llm_magics
from llm_magics import errors

trace = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

MODEL = "gpt-4o-mini"
EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider():
    current = trace.get_tracer_provider()
    if not isinstance(current, sdk_trace.TracerProvider):
        current = sdk_trace.TracerProvider()
        trace.set_tracer_provider(current)
    current.add_span_processor(SimpleSpanProcessor(EXPORTER))
    yield current


class Ours:
    """Our spans only (the in-thread simulator's web framework may trace its side too)."""

    def get_finished_spans(self):
        return [s for s in EXPORTER.get_finished_spans()
                if s.instrumentation_scope.name == "llm_magics"]


@pytest.fixture
def spans(sim, provider):
    sim.configure(latency_s=0, error_rate=0, rpm=None, answer_tokens=5)
    llm_magics.configure(base_url=sim.base_url, api_key="sk-otel-0123456789abcdef", model=MODEL,
                         max_retries=1, backoff_initial_s=0.01, backoff_max_s=0.02)
    EXPORTER.clear()
    return Ours()


def test_a_call_is_a_span_with_the_genai_attributes(spans, sim):
    response = llm_magics.complete("trace me", temperature=0.5)
    [span] = spans.get_finished_spans()
    a = span.attributes
    assert span.name == f"chat {MODEL}" and span.kind == trace.SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == MODEL and a["gen_ai.response.model"] == MODEL
    assert a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == response.usage.completion_tokens
    assert a["gen_ai.response.finish_reasons"] == (response.finish_reason,)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == sim.port
    assert a["llm_magics.cost_usd"] == response.cost_usd
    assert span.end_time > span.start_time
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a


def test_cache_hits_and_retries_are_events(spans):
    llm_magics.complete("hit me")
    llm_magics.complete("hit me")
    with pytest.raises(errors.ServerError):
        llm_magics.complete("STATUS:503 retried")
    first, hit, failed = spans.get_finished_spans()
    assert [e.name for e in first.events] == []
    assert [e.name for e in hit.events] == ["gen_ai.cache.hit"]
    assert [e.name for e in failed.events] == ["gen_ai.retry"]
    assert failed.attributes["error.type"] == "ServerError"
    assert failed.status.status_code == trace.StatusCode.ERROR


def test_text_goes_on_spans_only_when_asked(spans):
    response = llm_magics.complete("share my text", trace_text=True)
    [span] = spans.get_finished_spans()
    assert json.loads(span.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "content": "share my text"}]
    [out] = json.loads(span.attributes["gen_ai.output.messages"])
    assert out["parts"][0]["content"] == response.text


def test_spans_nest_under_the_callers_span_and_cover_fanouts(spans):
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("notebook cell") as parent:
        llm_magics.map(["n1", "n2", "n3"])
    children = spans.get_finished_spans()
    assert len(children) == 3
    assert {s.parent.span_id for s in children} == {parent.get_span_context().span_id}
    assert {s.attributes["llm_magics.mode"] for s in children} == {"async"}


def test_spans_without_a_call_log(spans):
    llm_magics.complete("no log", history=False)
    assert len(spans.get_finished_spans()) == 1
    assert llm_magics.history().empty
