"""Outcomes back into pandas: text as a Series, structured answers as typed columns.

``errors="coerce"`` follows pandas' own meaning (``pd.to_numeric``,
``pd.to_datetime``): a row that failed becomes NA, so the column stays a clean
string or numeric column, and the errors are listed beside it, as
``RowError(position, label, error)`` in ``result.attrs["llm_errors"]`` and in
``df.llm.last_errors`` (a Series of ``LLMError`` by row label). ``"raise"``
raises one error for the lot, after the fan-out, with every answer that did
arrive already in the cache.

Accessors hold no state (pandas builds a new one on every access), so
``last_errors`` lives here, in a registry keyed by the source object's id and
dropped when that object is garbage collected.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

import pandas as pd

from ..core.structured import StructuredOutput
from ..core.types import Response
from ..errors import LLMError

__all__ = ["RowError", "assemble", "remember_errors", "errors_series", "raise_for_errors"]

_PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3
TEXT_DTYPE: Any = "str" if _PANDAS_3 else object
"""pandas 3's string dtype (NaN for missing); plain object columns before it."""


class RowError(NamedTuple):
    """One failed row: where it is and why (the error carries status, request id...)."""

    position: int
    label: Hashable
    error: LLMError


def assemble(
    outcomes: Sequence[Any],
    index: pd.Index,
    *,
    structured: StructuredOutput | None = None,
    name: Hashable = None,
) -> tuple[pd.Series | pd.DataFrame, list[RowError]]:
    """The result aligned to ``index`` (same labels, same order) and the failed rows."""
    if structured is None:
        values: list[str | None] = [None] * len(outcomes)
        row_errors: list[RowError] = []
        for pos, outcome in enumerate(outcomes):
            if isinstance(outcome, Response):
                values[pos] = outcome.text
            elif isinstance(outcome, LLMError):
                row_errors.append(RowError(pos, index[pos], outcome))
        return pd.Series(values, index=index, dtype=TEXT_DTYPE, name=name), row_errors
    return _assemble_structured(outcomes, index, structured)


def _assemble_structured(outcomes: Sequence[Any], index: pd.Index,
                         structured: StructuredOutput) -> tuple[pd.DataFrame, list[RowError]]:
    fields = structured.fields
    columns: dict[str, list[Any]] = {f: [None] * len(outcomes) for f in fields}
    row_errors: list[RowError] = []
    parsed: dict[int, dict[str, Any] | LLMError] = {}  # identical rows share one Response
    for pos, outcome in enumerate(outcomes):
        if isinstance(outcome, Response):
            value = parsed.get(id(outcome))
            if value is None:
                try:
                    value = structured.parse_response(outcome)
                except LLMError as err:
                    value = err
                parsed[id(outcome)] = value
            outcome = value
        if isinstance(outcome, LLMError):
            row_errors.append(RowError(pos, index[pos], outcome))
        elif isinstance(outcome, dict):
            for f in fields:
                columns[f][pos] = outcome.get(f)
    frame = pd.DataFrame(
        {f: _typed_column(columns[f], structured.field_schema(f), index) for f in fields},
        index=index,
    )
    return frame, row_errors


def _field_type(schema: dict[str, Any]) -> tuple[str | None, str | None]:
    """The one JSON type of a field (``anyOf [x, null]`` counts as x) and its format."""
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        kind = non_null[0] if len(non_null) == 1 else None
    if kind is None:
        options = [o for o in schema.get("anyOf") or schema.get("oneOf") or ()
                   if isinstance(o, dict) and o.get("type") != "null"]
        if len(options) == 1:
            return options[0].get("type"), options[0].get("format")
        if "enum" in schema and all(isinstance(v, str) for v in schema["enum"]):
            return "string", None
    return kind, schema.get("format")


def _typed_column(values: list[Any], schema: dict[str, Any], index: pd.Index) -> pd.Series:
    """A column whose dtype follows the schema, nullable where some rows have no value."""
    kind, fmt = _field_type(schema)
    has_na = any(v is None for v in values)
    dtype: Any = {
        "integer": "Int64" if has_na else "int64",
        "number": "float64",
        "boolean": "boolean" if has_na else "bool",
        "string": TEXT_DTYPE,
    }.get(kind or "", object)
    if kind == "string" and fmt in ("date-time", "date"):
        return pd.Series(pd.to_datetime(values, errors="coerce", utc=fmt == "date-time"),
                         index=index)
    try:
        return pd.Series(values, index=index, dtype=dtype)
    except (TypeError, ValueError, OverflowError):  # an answer outside the type: keep as is
        return pd.Series(values, index=index, dtype=object)


# -- last_errors: state outside the accessor ----------------------------------------------------
_registry: dict[int, tuple[weakref.ref[Any], list[RowError]]] = {}
_registry_lock = threading.Lock()


def remember_errors(source: Any, row_errors: list[RowError]) -> None:
    """Record the last apply's failed rows for ``source.llm.last_errors``."""
    key = id(source)

    def forget(ref: weakref.ref[Any], key: int = key) -> None:
        with _registry_lock:
            entry = _registry.get(key)
            if entry is not None and entry[0] is ref:
                del _registry[key]

    try:
        ref = weakref.ref(source, forget)
    except TypeError:  # not weak-referenceable: keep nothing rather than leak
        return
    with _registry_lock:
        _registry[key] = (ref, list(row_errors))


def errors_series(source: Any) -> pd.Series:
    """The failed rows of the last apply on ``source``: ``LLMError`` values by row label."""
    with _registry_lock:
        entry = _registry.get(id(source))
    row_errors = entry[1] if entry is not None and entry[0]() is source else []
    return pd.Series(
        [e.error for e in row_errors],
        index=pd.Index([e.label for e in row_errors], dtype=object),
        dtype=object,
        name="error",
    )


def raise_for_errors(row_errors: list[RowError], total: int) -> None:
    """``errors="raise"``: one error of the first failure's type, with every failure attached."""
    if not row_errors:
        return
    first = row_errors[0]
    err = copy.copy(first.error)
    err.message = (
        f"{len(row_errors)} of {total} rows failed; the first, row {first.label!r}: "
        f"{first.error.message} Every answer that arrived is cached: fix the cause and run "
        "the same apply again to send only the failed rows, or pass errors='coerce' to get "
        "NA there (listed in .llm.last_errors)."
    )
    err.args = (err.message,)
    err.row_errors = row_errors  # type: ignore[attr-defined]
    raise err from first.error
