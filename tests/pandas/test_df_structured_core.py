"""core.structured: a schema becomes a strict response_format, and answers are checked."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from llm_magics.core.structured import strict_schema, structured_output, validate_json
from llm_magics.errors import InvalidRequestError, OutputValidationError


class Inner(BaseModel):
    x: int


class Review(BaseModel):
    label: Literal["pos", "neg"]
    score: float = Field(ge=0, le=1)
    note: str | None = None
    inner: Inner


def test_pydantic_model_gives_strict_response_format_with_fields_in_order():
    out = structured_output(Review)
    fmt = out.response_format
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Review"
    assert fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert out.fields == ("label", "score", "note", "inner")
    assert schema["required"] == ["label", "score", "note", "inner"]
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Inner"]["additionalProperties"] is False
    assert "default" not in schema["properties"]["note"]


def test_strict_schema_does_not_touch_its_input():
    raw = {"type": "object", "properties": {"a": {"type": "string", "default": None}}}
    strict_schema(raw)
    assert raw == {"type": "object", "properties": {"a": {"type": "string", "default": None}}}


def test_pydantic_parse_returns_json_values_and_rejects_bad_answers():
    out = structured_output(Review)
    good = {"label": "pos", "score": 0.5, "note": None, "inner": {"x": 1}}
    assert out.parse(json.dumps(good)) == good
    with pytest.raises(OutputValidationError) as info:
        out.parse('{"label": "meh", "score": 3, "note": null, "inner": {"x": 1}}')
    assert "label" in info.value.message and "score" in info.value.message
    assert info.value.raw_text.startswith('{"label": "meh"')


def test_cut_answer_says_to_raise_max_tokens():
    with pytest.raises(OutputValidationError, match="max_tokens"):
        structured_output(Review).parse('{"label": "po', finish_reason="length")


def test_dict_schema_is_checked_by_the_small_validator():
    schema = {"type": "object", "properties": {
        "n": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "kind": {"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]},
    }}
    out = structured_output({"name": "thing", "schema": schema})
    assert out.name == "thing" and out.fields == ("n", "tags", "kind")
    assert out.parse('{"n": 2, "tags": ["x"], "kind": null}') == {
        "n": 2, "tags": ["x"], "kind": None}
    problems = validate_json({"n": -1, "tags": ["x", 2, "z"], "kind": "c", "extra": 1},
                             out.schema)
    assert any(p.startswith("n:") for p in problems)
    assert any(p.startswith("tags[1]:") for p in problems)
    assert any("maxItems" in p for p in problems)
    assert any(p.startswith("kind:") for p in problems)
    assert any(p.startswith("extra:") for p in problems)
    with pytest.raises(OutputValidationError, match="not JSON"):
        out.parse("nope")
    with pytest.raises(OutputValidationError, match="missing"):
        out.parse('{"n": 1, "tags": []}')


def test_a_schema_that_is_not_an_object_with_properties_is_refused():
    with pytest.raises(InvalidRequestError, match="object with properties"):
        structured_output({"type": "string"})
    with pytest.raises(InvalidRequestError, match="pydantic model class or a JSON Schema"):
        structured_output(42)
