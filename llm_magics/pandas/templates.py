"""Rows to prompts: a format string over column names, or a function of the row.

Everything that can be wrong with a template is found here, before any call:
a column that does not exist is a ``TemplateError`` naming it and the columns
that do. A field reads a column and may walk into its values (``{meta[lang]}``,
``{when.year}``), but never into a private or dunder attribute
(``{title.__class__}``), as in ``%%llm`` templates. A row with a missing value
(NaN, None, ``pd.NA``) in a column the template uses gets ``None``: no call, NA
in the result.

The format string is compiled once into a positional one (``"{title}: {body}"``
becomes ``"{0}: {1}"``) and filled with ``str.format`` over the column lists,
so 100,000 rows render in C, not through ``string.Formatter`` per row.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"w": ["cat", None]})
    >>> render_frame(df, "Define {w}")
    ['Define cat', None]
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import LLMError, TemplateError

__all__ = ["Rendered", "render_frame", "render_series", "compile_template", "Template"]

Prompt = str | list[dict[str, Any]]
Rendered = list[Prompt | LLMError | None]
Template = str | Callable[[Any], Any]

_FORMATTER = string.Formatter()
_FIELD = re.compile(r"^([^.\[]*)(.*)$", re.DOTALL)
_ATTRS = re.compile(r"\.([^.\[]*)|\[[^\]]*\]")
_SHOWN_COLUMNS = 20
SERIES_NAMES = ("", "0", "value")
"""Names a Series template may use for the value: ``{}``, ``{0}``, ``{value}`` (or its name)."""


@dataclass(frozen=True)
class CompiledTemplate:
    """A positional format string and the field name behind each position."""

    fmt: str
    names: tuple[str, ...]


def compile_template(template: str) -> CompiledTemplate:
    """Rewrite named fields as positions; a malformed template is a ``TemplateError``."""
    names: list[str] = []
    fmt = _rewrite(template, names, depth=0)
    return CompiledTemplate(fmt, tuple(names))


def _rewrite(template: str, names: list[str], depth: int) -> str:
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as err:
        raise TemplateError(
            f"The template is not a valid format string ({err}): {template[:80]!r}. "
            "Write literal braces as {{ and }}."
        ) from None
    if depth > 2:
        raise TemplateError("The template nests replacement fields too deeply.")
    out: list[str] = []
    for literal, field, spec, conversion in parsed:
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        head, rest = _FIELD.match(field).groups()  # type: ignore[union-attr]
        _refuse_private(field, rest)
        if head not in names:
            names.append(head)
        piece = "{" + str(names.index(head)) + rest
        if conversion:
            piece += "!" + conversion
        if spec:
            piece += ":" + _rewrite(spec, names, depth + 1)
        out.append(piece + "}")
    return "".join(out)


def _refuse_private(field: str, rest: str) -> None:
    private = [name for name in _ATTRS.findall(rest) if name.startswith("_")]
    if private:
        raise TemplateError(
            f"The template field {{{field}}} reads the private attribute {private[0]!r}; "
            "fields read columns and their public attributes only."
        )


def _column_for(name: str, columns: pd.Index) -> Hashable:
    matches = [c for c in columns if str(c) == name]
    if len(matches) == 1:
        return matches[0]
    available = ", ".join(repr(str(c)) for c in list(columns)[:_SHOWN_COLUMNS])
    if len(columns) > _SHOWN_COLUMNS:
        available += f", ... ({len(columns)} columns)"
    if not matches:
        if name == "":
            raise TemplateError(
                "The template has an empty field {}: name a column, e.g. {title}. "
                f"Columns: {available}."
            )
        raise TemplateError(
            f"The template uses column {{{name}}}, which this DataFrame does not have. "
            f"Columns: {available}."
        )
    raise TemplateError(
        f"The template field {{{name}}} matches several columns ({matches!r}); rename them."
    )


def render_frame(df: pd.DataFrame, template: Template) -> Rendered:
    """One prompt per row of ``df`` (``None`` where a used value is missing)."""
    if callable(template):
        return _render_callable(df.to_dict("records"), df.index, template, skip_na=False)
    compiled = _compiled(template)
    columns = [_column_for(name, df.columns) for name in compiled.names]
    return _render(compiled.fmt, [df[c] for c in columns], len(df))


def render_series(series: pd.Series, template: Template) -> Rendered:
    """One prompt per value of ``series``; ``{}``, ``{0}``, ``{value}`` or ``{<name>}`` is it."""
    if callable(template):
        return _render_callable(series.tolist(), series.index, template, skip_na=True)
    compiled = _compiled(template)
    allowed = {*SERIES_NAMES, *([str(series.name)] if series.name is not None else [])}
    for name in compiled.names:
        if name not in allowed:
            raise TemplateError(
                f"A Series template refers to its value as {{}}, {{value}} or "
                f"{{{series.name if series.name is not None else 'value'}}}; "
                f"{{{name}}} is not one of those."
            )
    return _render(compiled.fmt, [series] * len(compiled.names), len(series))


def _compiled(template: Any) -> CompiledTemplate:
    if not isinstance(template, str):
        raise TemplateError(
            f"template must be a format string or a function of the row, got "
            f"{type(template).__name__}."
        )
    return compile_template(template)


def _render(fmt: str, columns: Sequence[pd.Series], n: int) -> Rendered:
    if not columns:  # a constant prompt: the same request for every row (sent once)
        return [fmt.format() for _ in range(n)]
    missing = columns[0].isna().to_numpy(copy=True)
    for col in columns[1:]:
        missing |= col.isna().to_numpy()
    values = [col.tolist() for col in columns]
    out: Rendered = []
    append = out.append
    try:
        for row, skip in zip(zip(*values, strict=True), missing.tolist(), strict=True):
            append(None if skip else fmt.format(*row))
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        raise TemplateError(
            f"The template cannot format row {len(out)}: {type(err).__name__}: {err}."
        ) from None
    return out


def _render_callable(rows: Sequence[Any], index: pd.Index, fn: Callable[[Any], Any],
                     *, skip_na: bool) -> Rendered:
    out: Rendered = []
    for label, row in zip(index, rows, strict=True):
        if skip_na and _is_na(row):
            out.append(None)
            continue
        try:
            prompt = fn(row)
        except Exception as err:  # noqa: BLE001 - a bad row is an error in its row
            out.append(TemplateError(
                f"The template function failed on row {label!r}: {type(err).__name__}: {err}"
            ))
            continue
        out.append(None if _is_na(prompt) else prompt)
    return out


def _is_na(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.api.types.is_scalar(value) and pd.isna(value))
    except (TypeError, ValueError):
        return False
