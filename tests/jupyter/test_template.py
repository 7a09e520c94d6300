"""``{name}`` placeholders read notebook values without ever evaluating code."""

from __future__ import annotations

import pandas as pd
import pytest

from llm_magics.errors import TemplateError
from llm_magics.jupyter import template
from llm_magics.jupyter.template import MAX_TABLE_ROWS, interpolate


class Box:
    secret = "hidden"

    def __init__(self) -> None:
        self.items = ["a", "b", "c"]
        self.calls = 0

    def summary(self) -> str:
        self.calls += 1
        return "box summary"

    def _private(self) -> str:
        return "private"


NS = {
    "topic": "TCP",
    "n": 3,
    "price": 3.14159,
    "d": {"k": "v", "a]b": 2, "nested": {"x": 1}},
    "items": [10, 20, 30],
    "box": Box(),
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("About {topic}.", "About TCP."),
        ("{n} bullets", "3 bullets"),
        ("{d['k']} {d[\"k\"]}", "v v"),
        ("{d['a]b']}", "2"),
        ("{d['nested']['x']}", "1"),
        ("{items[0]} {items[-1]}", "10 30"),
        ("{box.items[1]}", "b"),
        ("{box.summary()}", "box summary"),
        ("{price:.2f}", "3.14"),
        ("{topic!r}", "'TCP'"),
        ("{{literal}} and {{{topic}}}", "{literal} and {TCP}"),
        ("{ topic }", "TCP"),
        ("no placeholders", "no placeholders"),
        ("{items}", "[10, 20, 30]"),
        ("{d['nested']}", '{"x": 1}'),
    ],
)
def test_placeholders_read_values(source, expected):
    assert interpolate(source, NS) == expected


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{missing}", "no variable 'missing'"),
        ("{box._private()}", "private attributes"),
        ("{box.__class__.__mro__}", "private attributes"),
        ("{box.summary(1)}", "without arguments"),
        ("{topic()}", "only methods can be called"),
        ("{__import__('os').system('true')}", "without arguments"),
        ("{topic + topic}", "unexpected"),
        ("{items[1:2]}", "integer or a quoted string"),
        ("{items[n]}", "integer or a quoted string"),
        ('Return JSON like {"a": 1}', "Write {{ and }}"),
        ("open { brace", "never closed"),
        ("close } brace", "no opening brace"),
        ("{d['zz']}", "KeyError"),
        ("{items[7]}", "IndexError"),
        ("{box.nothing}", "AttributeError"),
        ("{n:zz}", "bad format spec"),
        ("{}", "expected a name"),
    ],
)
def test_anything_else_is_a_clear_template_error(source, says):
    with pytest.raises(TemplateError) as info:
        interpolate(source, NS)
    assert says in str(info.value)


def test_a_rejected_method_call_is_never_made():
    box = Box()
    with pytest.raises(TemplateError):
        interpolate("{box.summary()} {missing}", {"box": box})
    assert box.calls == 1  # only the allowed call ran; no eval-like side channel
    with pytest.raises(TemplateError):
        interpolate("{box.summary(0)}", {"box": box})
    assert box.calls == 1


def test_dataframe_renders_as_a_table():
    df = pd.DataFrame({"city": ["Oslo", "Lima"], "pop": [0.7, 10.0]})
    text = interpolate("{df}", {"df": df})
    assert "Oslo" in text and "Lima" in text and "city" in text
    assert "|" in text  # tabulate is installed: a markdown table
    assert interpolate("{df.shape}", {"df": df}) == "(2, 2)"
    big = pd.DataFrame({"i": range(8)})
    assert interpolate("{big.head()}", {"big": big}) == interpolate("{top}", {"top": big.head()})


def test_dataframe_without_tabulate_falls_back_to_plain_text(monkeypatch):
    monkeypatch.setattr(template.importlib.util, "find_spec", lambda name: None)
    text = interpolate("{df}", {"df": pd.DataFrame({"city": ["Oslo"]})})
    assert "|" not in text and "Oslo" in text


def test_large_dataframe_is_cut_with_a_note():
    df = pd.DataFrame({"i": range(MAX_TABLE_ROWS + 25)})
    text = interpolate("{df}", {"df": df})
    lines = text.splitlines()
    assert lines[-1] == "(25 more rows not shown)"
    assert len(lines) == 2 + MAX_TABLE_ROWS + 1  # header, rule, the rows shown, the note


def test_series_renders_as_a_table_too():
    text = interpolate("{s}", {"s": pd.Series([1, 2], name="score")})
    assert "score" in text and "|" in text
