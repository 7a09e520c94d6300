"""``{name}`` in a cell reads notebook variables, through a small parser instead of ``eval``.

A prompt is text, and text pasted into a cell must not run code or leak a secret.
So a placeholder may only look a value up and walk into it::

    {topic}            a variable (a dunder name such as {__builtins__} is refused)
    {df.shape}         an attribute (never one starting with "_")
    {d['key']}         an index: a string or an integer literal
    {items[-1]}
    {df.head()}        a display call from a short allow-list, without arguments
    {price:.2f}        a format spec; {x!r} for repr

The calls allowed are ``head tail describe to_markdown to_string to_csv to_json``
on pandas objects, ``keys values items`` on mappings and ``strip lower upper
title`` on strings; anything else (``{lst.clear()}``) is refused before anything
is looked up. Modules are neither walked into nor written (``{os.environ}``),
the environment is read one variable at a time and never by a secret-looking
name, and a prompt that would contain the configured API key is refused (see
``template_rules``).

``{{`` and ``}}`` are literal braces. Anything else inside braces, or a name
that does not exist, is a :class:`~llm_magics.errors.TemplateError` raised
before any request is sent.

    >>> interpolate("Summarise {topic} in {n} bullets, {{json}}", {"topic": "TCP", "n": 3})
    'Summarise TCP in 3 bullets, {json}'
"""

from __future__ import annotations

import ast
import importlib.util
import json
from collections.abc import ItemsView, KeysView, Mapping, ValuesView
from dataclasses import dataclass
from typing import Any

from ..errors import TemplateError
from . import template_rules as rules

__all__ = ["interpolate", "parse", "render_value", "MAX_TABLE_ROWS"]

MAX_TABLE_ROWS = 100
"""Rows of a DataFrame written into a prompt; the rest is summarised in one line."""

_HINT = "Write {{ and }} for literal braces."


@dataclass(frozen=True)
class _Step:
    kind: str  # "attr" | "index" | "call" (value: the method's name)
    value: Any = None


@dataclass(frozen=True)
class Placeholder:
    """One ``{...}``: a root name, the steps into it, an optional conversion and spec."""

    source: str
    name: str
    steps: tuple[_Step, ...]
    conversion: str | None
    spec: str


class _Reader:
    """A cursor over one placeholder's source text."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0

    def fail(self, why: str) -> TemplateError:
        return TemplateError(f"Cannot read the placeholder {{{self.src}}}: {why}. {_HINT}")

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def name(self) -> str:
        start = self.pos
        while self.pos < len(self.src) and (self.src[self.pos].isalnum() or self.peek() == "_"):
            self.pos += 1
        word = self.src[start:self.pos]
        if not word.isidentifier():
            raise self.fail(f"expected a name at {self.src[start:] or 'the end'!r}")
        return word

    def literal(self) -> Any:
        """An integer or a quoted string, up to the closing ``]``."""
        end = self.src.find("]", self.pos)
        quote = self.peek()
        if quote in ("'", '"'):  # a string may contain "]": find its closing quote
            close = self.pos + 1
            while close < len(self.src) and self.src[close] != quote:
                close += 2 if self.src[close] == "\\" else 1
            end = self.src.find("]", close)
        if end < 0:
            raise self.fail("an index is missing its ]")
        raw = self.src[self.pos:end].strip()
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = None
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            raise self.fail(f"an index must be an integer or a quoted string, not {raw!r}")
        self.pos = end + 1
        return value


def parse(source: str) -> Placeholder:
    """Parse what is between one pair of braces."""
    reader = _Reader(source.strip())
    name = reader.name()
    if name.startswith("__") and name.endswith("__"):
        raise reader.fail(f"dunder names such as {name!r} are not readable")
    steps: list[_Step] = []
    while (char := reader.peek()) in (".", "[", "("):
        reader.pos += 1
        if char == ".":
            attr = reader.name()
            if attr.startswith("_"):
                raise reader.fail(f"private attributes such as {attr!r} are not readable")
            steps.append(_Step("attr", attr))
        elif char == "[":
            steps.append(_Step("index", reader.literal()))
        else:
            if reader.peek() != ")":
                raise reader.fail("methods can only be called without arguments, like df.head()")
            if not steps or steps[-1].kind != "attr":
                raise reader.fail("only methods can be called, like df.head()")
            refused = rules.check_call_name(steps[-1].value)
            if refused:
                raise TemplateError(f"{{{reader.src}}}: {refused}")
            reader.pos += 1
            steps[-1] = _Step("call", steps[-1].value)
    conversion = None
    if reader.peek() == "!":
        conversion = reader.src[reader.pos + 1:reader.pos + 2]
        if conversion not in ("r", "s"):
            raise reader.fail("the conversion after ! must be r or s")
        reader.pos += 2
    spec = ""
    if reader.peek() == ":":
        spec = reader.src[reader.pos + 1:]
        reader.pos = len(reader.src)
    if reader.pos != len(reader.src):
        raise reader.fail(f"unexpected {reader.src[reader.pos:]!r}")
    return Placeholder(reader.src, name, tuple(steps), conversion, spec)


def _split(template: str) -> list[str | Placeholder]:
    """Literal text and placeholders, in order; brace errors say where."""
    parts: list[str | Placeholder] = []
    text: list[str] = []
    i, n = 0, len(template)
    while i < n:
        char = template[i]
        if char in "{}" and template[i:i + 2] in ("{{", "}}"):
            text.append(char)
            i += 2
        elif char == "}":
            raise TemplateError(f"A single '}}' at character {i} has no opening brace. {_HINT}")
        elif char == "{":
            end = _closing_brace(template, i + 1)
            if end < 0:
                raise TemplateError(f"The '{{' at character {i} is never closed. {_HINT}")
            parts.append("".join(text))
            text = []
            parts.append(parse(template[i + 1:end]))
            i = end + 1
        else:
            text.append(char)
            i += 1
    parts.append("".join(text))
    return [p for p in parts if p != ""]


def _closing_brace(template: str, start: int) -> int:
    """Index of the ``}`` closing a placeholder, skipping quoted index strings."""
    i, quote = start, ""
    while i < len(template):
        char = template[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in ("'", '"'):
            quote = char
        elif char == "{" or char == "\n":
            return -1
        elif char == "}":
            return i
        i += 1
    return -1


def _lookup(placeholder: Placeholder, namespace: Mapping[str, Any]) -> Any:
    where = f"{{{placeholder.source}}}"
    if placeholder.name not in namespace:
        raise TemplateError(
            f"{where}: there is no variable {placeholder.name!r} in the notebook. "
            f"Define it in a cell first. {_HINT}"
        )
    value = namespace[placeholder.name]
    for step in placeholder.steps:
        rules.check_step(where, value, step.kind, step.value)
        try:
            if step.kind == "attr":
                value = getattr(value, step.value)
            elif step.kind == "index":
                value = value[step.value]
            else:
                value = getattr(value, step.value)()
        except Exception as err:  # noqa: BLE001 - any failure of user objects is a template error
            what = {"attr": f"attribute {step.value!r}", "index": f"index {step.value!r}",
                    "call": f"the call {step.value}()"}[step.kind]
            raise TemplateError(
                f"{where}: {what} failed ({type(err).__name__}: {err})."
            ) from None
    rules.check_value(where, value)
    return value


def _is_pandas(value: Any) -> bool:
    return rules.is_pandas(value) and hasattr(value, "to_string")


def _table(value: Any) -> str:
    """A DataFrame/Series as a markdown table (tabulate installed) or aligned text."""
    more = len(value) - MAX_TABLE_ROWS if hasattr(value, "__len__") else 0
    shown = value.head(MAX_TABLE_ROWS) if more > 0 else value
    if importlib.util.find_spec("tabulate") is not None and hasattr(shown, "to_markdown"):
        text = shown.to_markdown()
    else:
        text = shown.to_string()
    if more > 0:
        text += f"\n({more} more rows not shown)"
    return text


def render_value(value: Any) -> str:
    """How a notebook value reads in a prompt: tables for frames, JSON for containers."""
    if isinstance(value, str):
        return value
    if _is_pandas(value):
        return _table(value)
    if isinstance(value, (KeysView, ValuesView, ItemsView)):
        value = list(value)
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def interpolate(template: str, namespace: Mapping[str, Any], *,
                secrets: tuple[str, ...] | None = None) -> str:
    """Fill every placeholder from ``namespace``; raise ``TemplateError`` on the first problem.

    ``secrets`` are strings the prompt must not contain; by default the
    configured API key.
    """
    parts = _split(template)
    if all(isinstance(part, str) for part in parts):
        return "".join(parts)  # type: ignore[arg-type]
    if secrets is None:
        secrets = rules.configured_secrets()
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        text = _fill(part, namespace)
        rules.check_secrets(f"{{{part.source}}}", text, secrets)
        out.append(text)
    prompt = "".join(out)
    # A key pieced together ({k[0]}{k[1]}...) is caught here; a key typed in the cell
    # itself is not a placeholder's doing and is left to the writer.
    typed = template.casefold()
    rules.check_secrets("The filled prompt", prompt,
                        tuple(s for s in secrets if s.casefold() not in typed))
    return prompt


def _fill(part: Placeholder, namespace: Mapping[str, Any]) -> str:
    value = _lookup(part, namespace)
    if part.conversion:
        value = repr(value) if part.conversion == "r" else str(value)
    if not part.spec:
        return render_value(value)
    try:
        return format(value, part.spec)
    except (TypeError, ValueError) as err:
        raise TemplateError(f"{{{part.source}}}: bad format spec ({err}).") from None
