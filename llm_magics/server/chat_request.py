"""Reading a ``/v1/chat/completions`` body and rejecting it the way OpenAI does.

The simulator and the gateway answer a bad body identically (400 with
``param`` and ``code``, 404 ``model_not_found``) because they share this
module; a client tested against one sees the errors it will meet at the other
and in production.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request

from .constants import MAX_JSON_DEPTH
from .openai_shapes import ChatCompletionRequest, bad_request, model_not_found

__all__ = ["INVALID_JSON_MESSAGE", "nesting_exceeds", "parse_json", "read_json", "validate_chat"]

INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you "
    "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)"
)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""A ``\\u`` escape in the UTF-16 surrogate range: a pair is one character, a lone one none."""


class _NonFinite(Exception):
    """A number JSON has no spelling for (Python's ``json`` reads NaN, Infinity and 1e999)."""


def _reject_constant(name: str) -> float:
    raise _NonFinite(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(text)
    return value


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _unencodable(value: Any) -> bool:
    """Whether ``value`` holds a lone surrogate, which no UTF-8 body can carry."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_json(raw: bytes) -> Any:
    """``raw`` as strict JSON, or OpenAI's 400: not JSON, a non-finite number, nested too deep,
    a lone UTF-16 surrogate.

    Python's ``json`` accepts ``NaN``/``Infinity``, ``"\\ud800"`` and recurses
    once per level; each would fail later, far from the cause (an encoding
    error upstream, a RecursionError in a handler), so they are refused here.
    """
    too_deep = False
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite)
    except _NonFinite as exc:
        raise bad_request(
            f"Invalid number in the JSON body: {exc}. JSON has no NaN or Infinity; "
            "send a finite number.", code="invalid_value") from None
    except RecursionError:
        too_deep = True
    except ValueError:
        raise bad_request(INVALID_JSON_MESSAGE) from None
    if too_deep or (isinstance(value, (dict, list)) and nesting_exceeds(value, MAX_JSON_DEPTH)):
        raise bad_request(
            f"The JSON body nests arrays/objects more than {MAX_JSON_DEPTH} levels deep; "
            "flatten it.", code="invalid_value")
    if _SURROGATE_ESCAPE.search(raw) and _unencodable(value):  # the scan is cheap, rarely hits
        raise bad_request(
            "The JSON body has a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its "
            "pair), which is not a character; send valid Unicode.", code="invalid_value")
    return value


async def read_json(request: Request) -> Any:
    """The request body as JSON, or OpenAI's 400 for an unparseable body."""
    return parse_json(await request.body())


def validate_chat(
    body: Any, known_model: Callable[[str], bool] | None = None
) -> ChatCompletionRequest:
    """Parse a chat body: 400 with ``param`` for a bad field, 404 for an unknown model.

    ``known_model`` is asked last, as OpenAI checks the model after the body;
    ``None`` accepts any model (the upstream decides).
    """
    if not isinstance(body, Mapping):
        raise bad_request("The request body must be a JSON object.")
    try:
        req = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first.get("loc", ()))
        if first.get("type") == "missing":
            raise bad_request(f"Missing required parameter: '{param}'.", param=param,
                              code="missing_required_parameter") from None
        raise bad_request(f"Invalid value for '{param}': {first.get('msg')}.", param=param,
                          code="invalid_value") from None
    if not req.messages:
        raise bad_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(req, name)
        if value is not None and value < 1:
            raise bad_request(
                f"Invalid '{name}': integer below minimum value. Expected a value >= 1, "
                f"but got {value} instead.",
                param=name,
                code="integer_below_min_value",
            )
    n = req.n if req.n is not None else 1
    if not 1 <= n <= 128:
        raise bad_request(f"Invalid 'n': expected 1..128, got {n}.", param="n")
    if known_model is not None and not known_model(req.model):
        raise model_not_found(req.model)
    return req

