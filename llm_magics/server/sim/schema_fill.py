"""Deterministic JSON values that satisfy a JSON Schema, for ``response_format`` answers.

Structured-output callers (``schema=Sentiment`` -> DataFrame columns) must be
testable without a model, so the simulator answers with a value of the right
shape: the first enum member, strings named after their field, numbers inside
their bounds, every property filled. It covers what pydantic emits
(``$ref``/``$defs``, ``anyOf`` for ``Optional``, ``const``, ``enum``), not all of
JSON Schema.
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 8
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "sim@example.com",
    "uri": "https://example.com/sim",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def fill_schema(schema: dict[str, Any], seed: str = "sim") -> Any:
    """Return a value valid against ``schema``; ``seed`` (a digest) varies the strings."""
    return _fill(schema, root=schema, name="value", seed=seed, depth=0)


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#/"):
        return {}
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node if isinstance(node, dict) else {}


def _fill(schema: Any, *, root: dict[str, Any], name: str, seed: str, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _fill(_resolve(schema["$ref"], root), root=root, name=name, seed=seed,
                     depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return _fill((non_null or options)[0], root=root, name=name, seed=seed, depth=depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = _resolve(part["$ref"], root) if "$ref" in part else part
            merged.update(part)
        return _fill(merged, root=root, name=name, seed=seed, depth=depth + 1)

    kind = schema.get("type")
    if isinstance(kind, list):
        non_null_kinds = [k for k in kind if k != "null"]
        kind = non_null_kinds[0] if non_null_kinds else "null"
    if kind is None:
        kind = "object" if "properties" in schema else "string"

    if kind == "object":
        props = schema.get("properties") or {}
        return {
            key: _fill(sub, root=root, name=key, seed=seed, depth=depth + 1)
            for key, sub in props.items()
        }
    if kind == "array":
        items = schema.get("items") or {}
        count = max(int(schema.get("minItems", 1)), 1)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        if isinstance(items, list):  # tuple form
            return [_fill(s, root=root, name=name, seed=seed, depth=depth + 1) for s in items]
        return [
            _fill(items, root=root, name=f"{name}{i}", seed=seed, depth=depth + 1)
            for i in range(count)
        ]
    if kind == "string":
        return _string(schema, name, seed)
    if kind == "integer":
        return int(_number(schema, integer=True))
    if kind == "number":
        return _number(schema, integer=False)
    if kind == "boolean":
        return True
    return None


def _string(schema: dict[str, Any], name: str, seed: str) -> str:
    fmt = schema.get("format")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    text = f"{name}-{seed[:6]}"
    min_len = int(schema.get("minLength", 0))
    max_len = schema.get("maxLength")
    if len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    if max_len is not None:
        text = text[: int(max_len)]
    return text


def _number(schema: dict[str, Any], *, integer: bool) -> float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    if schema.get("exclusiveMinimum") is not None:
        low = schema["exclusiveMinimum"] + (1 if integer else 1e-6)
    if schema.get("exclusiveMaximum") is not None:
        high = schema["exclusiveMaximum"] - (1 if integer else 1e-6)
    if low is not None and high is not None:
        value = (low + high) / 2
        return float(int(value)) if integer else value
    if low is not None:
        return low
    if high is not None:
        return min(high, 1 if integer else 0.5)
    return 1 if integer else 0.5
