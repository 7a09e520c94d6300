"""``{name}`` placeholders read notebook values without ever evaluating code or leaking keys."""

from __future__ import annotations

import math
import os

import pandas as pd
import pytest

import llm_magics
from llm_magics.errors import TemplateError
from llm_magics.jupyter import template
from llm_magics.jupyter.magics import LLMMagics
from llm_magics.jupyter.template import MAX_TABLE_ROWS, interpolate
from llm_magics.jupyter.template_rules import ALLOWED_CALLS, MIN_SECRET_CHARS

KEY = "sk-proj-Abc123SECRETxyz789"


class Box:
    secret = "hidden"

    def __init__(self) -> None:
        self.items = ["a", "b", "c"]
        self.calls = 0

    def summary(self) -> str:
        self.calls += 1
        return "box summary"

    def head(self) -> str:  # an allowed name, but Box is not a pandas object
        self.calls += 1
        return "box head"

    def _private(self) -> str:
        return "private"


NS = {
    "topic": "TCP",
    "n": 3,
    "price": 3.14159,
    "d": {"k": "v", "a]b": 2, "nested": {"x": 1}},
    "items": [10, 20, 30],
    "box": Box(),
    "_llm": "last answer",
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
        ("{d.keys()}", '["k", "a]b", "nested"]'),
        ("{d['nested'].items()}", '[["x", 1]]'),
        ("{d['nested'].values()}", "[1]"),
        ("{topic.lower()} {topic.title()}", "tcp Tcp"),
        ("{_llm}", "last answer"),
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
        ("{box.summary()}", "summary() is not one of the calls"),
        ("{items.clear()}", "clear() is not one of the calls"),
        ("{items.pop()}", "pop() is not one of the calls"),
        ("{box.head()}", "allowed only on a pandas DataFrame, Series or Index, not on Box"),
        ("{items.keys()}", "allowed only on a dict or other mapping, not on list"),
        ("{n.upper()}", "allowed only on a string, not on int"),
        ("{topic()}", "only methods can be called"),
        ("{__import__('os').system('true')}", "dunder names"),
        ("{__builtins__}", "dunder names"),
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


def test_a_refused_call_is_never_made_and_nothing_is_looked_up_before_it():
    box, lst, d = Box(), [1, 2, 3], {"k": "v"}
    ns = {"box": box, "lst": lst, "d": d}
    for source in ("{box.summary()}", "{lst.clear()}", "{d.clear()}", "{d.popitem()}",
                   "{box.head()}", "{box.items[0]} {lst.clear()}"):
        with pytest.raises(TemplateError):
            interpolate(source, ns)
    assert box.calls == 0 and lst == [1, 2, 3] and d == {"k": "v"}


def test_the_refusal_says_which_calls_are_allowed():
    with pytest.raises(TemplateError) as info:
        interpolate("{items.clear()}", NS)
    message = str(info.value)
    for rule in ALLOWED_CALLS:
        assert rule.kind in message
        assert all(f".{name}()" in message for name in rule.names)
    assert "Compute it in a cell first" in message


def test_every_allowed_call_is_listed_in_the_magic_help():
    help_text = " ".join(LLMMagics.llm.__doc__.split())
    for rule in ALLOWED_CALLS:
        assert " ".join(rule.names) in help_text


@pytest.mark.parametrize("call", ["head", "tail", "describe", "to_markdown", "to_string",
                                  "to_csv", "to_json"])
def test_pandas_display_calls_render_and_leave_the_frame_alone(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = pd.DataFrame({"city": ["Oslo", "Lima"], "pop": [0.7, 10.0]})
    before = df.copy()
    text = interpolate(f"{{df.{call}()}}", {"df": df})
    assert text.strip() and (call == "describe" or "Oslo" in text)
    pd.testing.assert_frame_equal(df, before)
    assert list(tmp_path.iterdir()) == []  # to_csv()/to_json() without a path write nothing


@pytest.mark.parametrize(
    "source",
    ["{os}", "{os.environ}", "{os.environ['HOME']}", "{os.environ.keys()}", "{math.pi}",
     "{box.mod.sep}"],
)
def test_modules_are_neither_walked_into_nor_written(source):
    box = Box()
    box.mod = os
    with pytest.raises(TemplateError) as info:
        interpolate(source, {"os": os, "math": math, "box": box})
    assert "is a module" in str(info.value) and "do not reach into modules" in str(info.value)


def test_the_environment_is_read_one_plain_variable_at_a_time(monkeypatch):
    monkeypatch.setenv("LLM_TEMPLATE_REGION", "eu-north")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-" + "9" * 20)
    ns = {"env": os.environ}
    assert interpolate("{env['LLM_TEMPLATE_REGION']}", ns) == "eu-north"
    for source, says in [
        ("{env['MY_SERVICE_TOKEN']}", "looks like a secret"),
        ("{env['OPENAI_API_KEY']}", "looks like a secret"),
        ("{env['db_password']}", "looks like a secret"),
        ("{env}", "whole environment"),
        ("{env!r}", "whole environment"),
        ("{env.keys()}", "one variable at a time"),
        ("{env.copy}", "one variable at a time"),
    ]:
        with pytest.raises(TemplateError) as info:
            interpolate(source, ns)
        assert says in str(info.value), source


@pytest.mark.parametrize(
    "source",
    ["{k}", "{k!r}", "{k:>40}", "{k.upper()}", "{cfg}", "{cfg['auth']}", "{cfg.values()}",
     "".join(f"{{k[{i}]}}" for i in range(len(KEY)))],
)
def test_a_value_holding_the_api_key_is_refused(source):
    ns = {"k": KEY, "cfg": {"auth": KEY, "region": "eu"}}
    with pytest.raises(TemplateError) as info:
        interpolate(source, ns, secrets=(KEY,))
    assert "contains the configured API key" in str(info.value)
    assert KEY not in str(info.value)


def test_the_configured_key_is_the_default_secret():
    llm_magics.configure(api_key=KEY)
    with pytest.raises(TemplateError, match="configured API key"):
        interpolate("Use {k}", {"k": KEY})
    assert interpolate("Use {k}", {"k": "not the key"}) == "Use not the key"


def test_a_key_from_the_environment_is_the_default_secret_too(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(TemplateError, match="configured API key"):
        interpolate("{settings}", {"settings": {"openai": KEY}})


def test_a_key_too_short_to_be_a_secret_does_not_block_prompts():
    short = "k" * (MIN_SECRET_CHARS - 1)
    llm_magics.configure(api_key=short)
    assert interpolate("{word}", {"word": short + "ing"}) == short + "ing"


def test_text_typed_in_the_cell_is_not_a_placeholder_leak():
    assert interpolate(f"{KEY} and {{n}}", {"n": 1}, secrets=(KEY,)) == f"{KEY} and 1"


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
