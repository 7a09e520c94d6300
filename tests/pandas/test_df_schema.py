"""schema=: structured output becomes typed columns; answers that do not fit are row errors."""

from __future__ import annotations

import json
from typing import Literal

import pandas as pd
import pytest
from pydantic import BaseModel

from llm_magics import errors
from llm_magics.core.structured import structured_output
from llm_magics.server.sim import expected_answer


class Sentiment(BaseModel):
    label: Literal["positive", "negative"]
    score: float
    stars: int
    spam: bool
    note: str | None = None


def test_schema_rows_become_typed_columns_with_the_servers_values(llm, body):
    df = pd.DataFrame({"review": ["great", "awful", None]}, index=["x", "y", "z"])
    out = df.llm.apply("Classify: {review}", schema=Sentiment, progress=False)
    assert list(out.columns) == ["label", "score", "stars", "spam", "note"]
    assert out.index.equals(df.index)
    assert out["score"].dtype == "float64"
    assert out["stars"].dtype == "Int64"  # nullable: row z has no answer
    assert out["spam"].dtype == "boolean"
    assert pd.api.types.is_string_dtype(out["label"].dropna())  # str from pandas 3, object before
    fmt = structured_output(Sentiment).response_format
    sent = json.loads(expected_answer(body("Classify: great", response_format=fmt)))
    assert out.loc["x"].to_dict() | {"note": None} == sent | {"note": None}
    assert out.loc["z"].isna().all()
    assert llm.stats["chat_requests"] == 2


def test_without_missing_rows_columns_are_plain_numpy_dtypes(llm):
    out = pd.DataFrame({"r": ["a", "b"]}).llm.apply("{r}", schema=Sentiment, progress=False)
    assert out["stars"].dtype == "int64" and out["spam"].dtype == "bool"


def test_an_answer_that_does_not_validate_is_an_error_in_its_row(llm):
    df = pd.DataFrame({"r": ["fine", "BADJSON: oops", "also fine"]})
    out = df.llm.apply("{r}", schema=Sentiment, progress=False)
    assert out.isna().all(axis=1).tolist() == [False, True, False]
    failed = df.llm.last_errors
    assert failed.index.tolist() == [1]
    assert isinstance(failed[1], errors.OutputValidationError)
    assert failed[1].raw_text.startswith('{"answer": "oops')


def test_echoed_json_is_validated_against_the_schema(llm):
    df = pd.DataFrame({"j": [
        '{"label": "positive", "score": 0.9, "stars": 5, "spam": false, "note": "hi"}',
        '{"label": "meh", "score": 0.9, "stars": 5, "spam": false, "note": null}',
    ]})
    out = df.llm.apply("ECHO: {j}", schema=Sentiment, progress=False)
    assert out.iloc[0].tolist() == ["positive", 0.9, 5, False, "hi"]
    assert "label" in df.llm.last_errors[1].message


def test_json_schema_dict_works_too(llm):
    schema = {"type": "object", "properties": {"n": {"type": "integer"},
                                               "word": {"type": "string"}}}
    out = pd.Series(["a", "b"]).llm.apply("{}", schema=schema, progress=False)
    assert list(out.columns) == ["n", "word"] and out["n"].dtype == "int64"


def test_schema_and_response_format_together_are_refused(llm):
    with pytest.raises(errors.InvalidRequestError, match="either schema= or response_format="):
        pd.DataFrame({"r": ["a"]}).llm.apply(
            "{r}", schema=Sentiment, response_format={"type": "json_object"})
    assert llm.stats["chat_requests"] == 0


def test_raise_mode_counts_invalid_answers_as_failures(llm):
    df = pd.DataFrame({"r": ["ok", "BADJSON: x"]})
    with pytest.raises(errors.OutputValidationError, match="1 of 2 rows failed"):
        df.llm.apply("{r}", schema=Sentiment, errors="raise", progress=False)
