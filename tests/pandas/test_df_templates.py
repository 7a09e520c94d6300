"""Rows to prompts: column lookup, missing values, Series and callable templates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llm_magics.errors import TemplateError
from llm_magics.pandas.templates import compile_template, render_frame, render_series


def test_named_fields_become_positions_keeping_conversion_spec_and_literal_braces():
    compiled = compile_template("{title!r:>{width}} {{lit}} {title} {meta[k]}")
    assert compiled.names == ("title", "width", "meta")
    assert compiled.fmt == "{0!r:>{1}} {{lit}} {0} {2[k]}"
    assert compiled.fmt.format("ab", 5, {"k": "v"}) == " 'ab' {lit} ab v"


@pytest.mark.parametrize("field", ["{title.__class__}", "{title.__class__.__mro__[1]}",
                                   "{meta[k]._secret}", "{title:{width.__doc__}}"])
def test_a_field_never_reads_private_or_dunder_attributes(field):
    df = pd.DataFrame({"title": ["a"], "meta": [{"k": "v"}], "width": [3]})
    with pytest.raises(TemplateError, match="private attribute '_"):
        render_frame(df, f"Summarise {field}")


def test_public_attributes_and_indexes_of_values_still_read():
    df = pd.DataFrame({"when": pd.to_datetime(["2024-05-01"]), "meta": [{"_k": "v"}]})
    assert render_frame(df, "{when.year} {meta[_k]}") == ["2024 v"]


def test_missing_column_names_it_and_the_available_ones():
    df = pd.DataFrame({"title": ["a"], "body": ["b"]})
    with pytest.raises(TemplateError) as info:
        render_frame(df, "Summarise {title}: {text}")
    assert "{text}" in info.value.message
    assert "'title'" in info.value.message and "'body'" in info.value.message


def test_malformed_template_is_a_template_error():
    with pytest.raises(TemplateError, match="not a valid format string"):
        render_frame(pd.DataFrame({"a": [1]}), "Broken {a")


def test_empty_field_in_a_dataframe_template_asks_for_a_column_name():
    with pytest.raises(TemplateError, match="name a column"):
        render_frame(pd.DataFrame({"a": [1]}), "Value {}")


def test_missing_values_in_used_columns_give_none_and_unused_columns_do_not_matter():
    df = pd.DataFrame({
        "a": ["x", None, "z", "w", "v"],
        "b": [1.0, 2.0, np.nan, 4.0, 5.0],
        "c": pd.array([1, 2, 3, pd.NA, 5], dtype="Int64"),
        "unused": [None] * 5,
    })
    assert render_frame(df, "{a}-{b}-{c}") == ["x-1.0-1", None, None, None, "v-5.0-5"]


def test_non_string_column_labels_are_matched_by_their_text():
    df = pd.DataFrame({0: ["zero"], "name": ["n"]})
    assert render_frame(df, "{0}/{name}") == ["zero/n"]


def test_series_template_uses_braces_value_or_the_series_name():
    s = pd.Series(["cat", None, "dog"], name="word")
    assert render_series(s, "Translate: {}") == ["Translate: cat", None, "Translate: dog"]
    assert render_series(s, "{value}|{word}|{0}") == ["cat|cat|cat", None, "dog|dog|dog"]
    with pytest.raises(TemplateError, match="{other}"):
        render_series(s, "{other}")


def test_callable_gets_a_row_dict_and_its_failures_stay_in_their_rows():
    df = pd.DataFrame({"a": ["x", "y", "z"]}, index=["r1", "r2", "r3"])

    def prompt(row):
        if row["a"] == "y":
            raise KeyError("boom")
        if row["a"] == "z":
            return None
        return [{"role": "user", "content": f"Say {row['a']}"}]

    out = render_frame(df, prompt)
    assert out[0] == [{"role": "user", "content": "Say x"}]
    assert isinstance(out[1], TemplateError) and "'r2'" in out[1].message
    assert out[2] is None


def test_series_callable_skips_missing_values_without_calling():
    seen = []
    out = render_series(pd.Series([1, None, 3]), lambda v: seen.append(v) or f"n={v:g}")
    assert out == ["n=1", None, "n=3"] and seen == [1.0, 3.0]


def test_a_row_that_cannot_be_formatted_fails_before_any_call():
    with pytest.raises(TemplateError, match="cannot format row 1"):
        render_frame(pd.DataFrame({"n": [1, "x"]}), "{n:d}")
