"""Structured output: a schema becomes a ``response_format``, and an answer a checked dict.

Core-level so every face (the DataFrame accessor, the batch tracker, the queue)
asks for JSON the same way and rejects a wrong answer the same way: a row whose
answer does not fit is an ``OutputValidationError`` in that row, never a crash.

    >>> from pydantic import BaseModel
    >>> class Sentiment(BaseModel):
    ...     label: str
    ...     score: float
    >>> out = structured_output(Sentiment)
    >>> out.fields
    ('label', 'score')
    >>> out.response_format["json_schema"]["strict"]
    True
    >>> out.parse('{"label": "pos", "score": 0.9}')
    {'label': 'pos', 'score': 0.9}

A plain JSON Schema dict works too; it is checked with the small validator
below (``type``, ``enum``, ``const``, ``properties``, ``required``,
``additionalProperties``, ``items``, ``anyOf``/``oneOf``/``allOf``, local
``$ref``, numeric bounds, string and array lengths). Other keywords are
sent to the server but not checked here.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequestError, OutputValidationError
from .types import Response

__all__ = ["StructuredOutput", "structured_output", "strict_schema", "validate_json"]

_NAME_OK = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_ERRORS_SHOWN = 3


@dataclass(frozen=True)
class StructuredOutput:
    """What to ask for (``response_format``) and how to check what came back (``parse``)."""

    name: str
    schema: dict[str, Any]
    model: Any = None  # a pydantic BaseModel subclass, when given one
    fields: tuple[str, ...] = field(default=())

    @property
    def response_format(self) -> dict[str, Any]:
        return {
            "type": "json_schema",
            "json_schema": {"name": self.name, "schema": self.schema, "strict": True},
        }

    def field_schema(self, name: str) -> dict[str, Any]:
        """The (``$ref``-resolved) schema of one top-level field: faces pick dtypes from it."""
        node = self.schema.get("properties", {}).get(name, {})
        return _deref(node, self.schema)

    def parse(self, text: str, *, finish_reason: str | None = None) -> dict[str, Any]:
        """The answer as a dict of field values, or ``OutputValidationError`` saying why not."""
        if self.model is not None:
            return self._parse_model(text, finish_reason)
        try:
            value = json.loads(text)
        except ValueError as err:
            raise _invalid(f"the answer is not JSON ({err})", text, finish_reason) from None
        problems = validate_json(value, self.schema)
        if problems:
            shown = "; ".join(problems[:_MAX_ERRORS_SHOWN])
            more = f" (+{len(problems) - _MAX_ERRORS_SHOWN} more)" if len(
                problems) > _MAX_ERRORS_SHOWN else ""
            raise _invalid(shown + more, text, finish_reason)
        return value

    def parse_response(self, response: Response) -> dict[str, Any]:
        return self.parse(response.text, finish_reason=response.finish_reason)

    def _parse_model(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        from pydantic import ValidationError

        try:
            return self.model.model_validate_json(text).model_dump()
        except ValidationError as err:
            shown = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                for e in err.errors()[:_MAX_ERRORS_SHOWN]
            )
            raise _invalid(shown, text, finish_reason) from None


def _invalid(problem: str, text: str, finish_reason: str | None) -> OutputValidationError:
    hint = (
        " The answer was cut at max_tokens (finish_reason='length'): raise max_tokens."
        if finish_reason == "length"
        else " Run again (cached answers are reused: pass cache=False for a fresh one) or "
        "loosen the schema."
    )
    return OutputValidationError(
        f"The answer does not fit the schema: {problem}.{hint}", raw_text=text
    )


def structured_output(schema: Any, *, name: str | None = None) -> StructuredOutput:
    """Accept a pydantic model class, a JSON Schema dict, or OpenAI's ``{name, schema}`` form."""
    if isinstance(schema, StructuredOutput):
        return schema
    model = None
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        model = schema
        raw = schema.model_json_schema()
        name = name or schema.__name__
    elif isinstance(schema, Mapping):
        raw = dict(schema)
        if "schema" in raw and isinstance(raw["schema"], Mapping) and "properties" not in raw:
            name = name or raw.get("name")
            raw = dict(raw["schema"])
        name = name or raw.get("title") or "output"
    else:
        raise InvalidRequestError(
            f"schema= takes a pydantic model class or a JSON Schema dict, got "
            f"{type(schema).__name__}."
        )
    if raw.get("type") != "object" or not isinstance(raw.get("properties"), Mapping) or not raw[
        "properties"
    ]:
        raise InvalidRequestError(
            "schema= must describe an object with properties (each becomes a column), e.g. "
            '{"type": "object", "properties": {"label": {"type": "string"}}}.'
        )
    strict = strict_schema(raw)
    return StructuredOutput(
        name=_NAME_OK.sub("_", str(name))[:64] or "output",
        schema=strict,
        model=model,
        fields=tuple(strict["properties"]),
    )


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's strict mode rules: closed objects, every property required, no null defaults.

    Optional fields stay optional in meaning: pydantic already writes them as
    ``anyOf [..., null]``, so the model answers ``null`` instead of leaving them out.
    """
    out = copy.deepcopy(dict(schema))
    _make_strict(out, root=out)
    return out


def _make_strict(node: Any, root: dict[str, Any]) -> None:
    if not isinstance(node, dict):
        return
    for defs_key in ("$defs", "definitions"):
        for sub in (node.get(defs_key) or {}).values():
            _make_strict(sub, root)
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties") or {}
        node["additionalProperties"] = False
        node["required"] = list(props)
        for sub in props.values():
            _make_strict(sub, root)
    if isinstance(node.get("items"), dict):
        _make_strict(node["items"], root)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key) or ():
            _make_strict(sub, root)
    if "default" in node and node["default"] is None:
        del node["default"]
    if "$ref" in node and len(node) > 1:  # strict mode rejects siblings next to $ref
        target = _deref({"$ref": node.pop("$ref")}, root)
        merged = {**target, **node}
        node.clear()
        node.update(merged)


def _deref(node: Any, root: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    while isinstance(node, Mapping) and "$ref" in node and depth < 32:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node, depth = target, depth + 1
    return dict(node) if isinstance(node, Mapping) else {}


# -- a small JSON Schema validator ---------------------------------------------------------------
_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def validate_json(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Problems with ``value`` against ``schema`` (empty when it fits), each with its path."""
    problems: list[str] = []
    _check(value, schema, schema, "(root)", problems, 0)
    return problems


def _check(value: Any, schema: Any, root: Mapping[str, Any], path: str, out: list[str],
           depth: int) -> None:
    if not isinstance(schema, Mapping) or depth > 64:
        return
    if "$ref" in schema:
        _check(value, _deref({"$ref": schema["$ref"]}, root), root, path, out, depth + 1)
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_TYPES.get(k, lambda v: True)(value) for k in kinds):
            out.append(f"{path}: expected {' or '.join(kinds)}, got {_short(value)}")
            return
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: must be {schema['const']!r}, got {_short(value)}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: must be one of {schema['enum']!r}, got {_short(value)}")
    _check_bounds(value, schema, path, out)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options and not any(_fits(value, o, root, depth) for o in options):
            out.append(f"{path}: matches none of the allowed shapes, got {_short(value)}")
    for sub in schema.get("allOf") or ():
        _check(value, sub, root, path, out, depth + 1)
    if isinstance(value, dict):
        _check_object(value, schema, root, path, out, depth)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            _check(item, schema["items"], root, f"{path}[{i}]", out, depth + 1)


def _fits(value: Any, schema: Any, root: Mapping[str, Any], depth: int) -> bool:
    problems: list[str] = []
    _check(value, schema, root, "", problems, depth + 1)
    return not problems


def _check_object(value: dict[str, Any], schema: Mapping[str, Any], root: Mapping[str, Any],
                  path: str, out: list[str], depth: int) -> None:
    props = schema.get("properties") or {}
    prefix = "" if path == "(root)" else path + "."
    for name in schema.get("required") or ():
        if name not in value:
            out.append(f"{prefix}{name}: missing")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in props:
            _check(item, props[name], root, f"{prefix}{name}", out, depth + 1)
        elif extra is False:
            out.append(f"{prefix}{name}: not allowed (additionalProperties is false)")
        elif isinstance(extra, Mapping):
            _check(item, extra, root, f"{prefix}{name}", out, depth + 1)


def _check_bounds(value: Any, schema: Mapping[str, Any], path: str, out: list[str]) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, ok in (
            ("minimum", lambda b: value >= b),
            ("maximum", lambda b: value <= b),
            ("exclusiveMinimum", lambda b: value > b),
            ("exclusiveMaximum", lambda b: value < b),
        ):
            if isinstance(schema.get(key), (int, float)) and not ok(schema[key]):
                out.append(f"{path}: {value!r} breaks {key} {schema[key]!r}")
    sized = value if isinstance(value, (str, list)) else None
    if sized is not None:
        low, high = ("minLength", "maxLength") if isinstance(value, str) else (
            "minItems", "maxItems")
        if isinstance(schema.get(low), int) and len(sized) < schema[low]:
            out.append(f"{path}: shorter than {low} {schema[low]}")
        if isinstance(schema.get(high), int) and len(sized) > schema[high]:
            out.append(f"{path}: longer than {high} {schema[high]}")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
