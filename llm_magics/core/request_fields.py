"""What a call may send, checked before anything goes out.

A keyword given to ``complete()``, ``map()`` or ``df.llm.apply()`` is either a
setting (``rpm``, ``timeout``...) or a Chat Completions request field
(``temperature``, ``seed``...). Anything else is refused with the closest
names, so a typo like ``rmp=500`` fails at once instead of riding along in
every request body. A field this list does not know (a server's own
``top_k``) goes through ``extra_body={...}``, merged into the JSON body as the
OpenAI SDK does. Values must survive JSON: no NaN or infinity, nothing the
encoder cannot write. Such mistakes are ``InvalidRequestError`` here, so they
are never sent, never retried and never counted by the circuit breaker::

    >>> request_params({"temperature": 0, "extra_body": {"top_k": 5}})
    {'temperature': 0, 'top_k': 5}
"""

from __future__ import annotations

import difflib
import functools
import math
from typing import Any

from ..errors import InvalidRequestError
from .constants import MAX_JSON_DEPTH
from .settings import FIELDS

__all__ = ["request_params", "known_fields", "check_json_value", "sdk_arguments", "EXTRA_BODY"]

EXTRA_BODY = "extra_body"

# Body fields the call itself sets: a keyword for them says how to do it instead.
_SET_BY_THE_CALL = {
    "model": "pass model=... (a setting)",
    "messages": "pass the prompt or the messages list as the first argument",
    "stream": "use stream() / astream() (or %%llm_stream) for a streamed answer",
    "stream_options": "streaming calls set it themselves (usage is always requested)",
}
# OpenAI SDK request options that are not body fields.
_SDK_OPTIONS = {
    "extra_headers": "extra HTTP headers are not supported per call",
    "extra_query": "extra query parameters are not supported per call",
}
# Keywords of the call functions themselves, so a typo in them gets a suggestion too.
_CALL_KEYWORDS = ("system", "priority", "cache", "concurrency", "mode", EXTRA_BODY)


@functools.cache
def known_fields() -> frozenset[str]:
    """The Chat Completions body fields the installed OpenAI SDK documents, minus the call's own.

    Read from the SDK on first use (not at import), so a newer SDK brings its new
    fields along and loading the core stays cheap.
    """
    from openai.types.chat.completion_create_params import CompletionCreateParamsBase

    return frozenset(CompletionCreateParamsBase.__annotations__) - set(_SET_BY_THE_CALL)


def request_params(options: dict[str, Any]) -> dict[str, Any]:
    """The JSON body fields for keyword ``options`` that are not settings; refuse the rest.

    ``None`` values are dropped (unset); ``extra_body`` is merged in last.
    """
    params = {k: v for k, v in options.items() if v is not None}
    extra = params.pop(EXTRA_BODY, None)
    for name in params:
        if name not in known_fields():
            raise InvalidRequestError(_unknown_message(name))
    if extra is not None:
        params.update(_checked_extra_body(extra))
    for name, value in params.items():
        check_json_value(value, name)
    return params


def sdk_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """A JSON body as keyword arguments of the SDK's ``create()``: fields it does not name
    go in its ``extra_body`` (passed as keywords they would be a TypeError)."""
    own = known_fields() | set(_SET_BY_THE_CALL)
    kwargs = {k: v for k, v in body.items() if k in own}
    extra = {k: v for k, v in body.items() if k not in own}
    return {**kwargs, EXTRA_BODY: extra} if extra else kwargs


def _checked_extra_body(extra: Any) -> dict[str, Any]:
    if not isinstance(extra, dict) or not all(isinstance(k, str) for k in extra):
        raise InvalidRequestError(
            f"extra_body must be a dict of field names to values, got {type(extra).__name__}: "
            "extra_body={'top_k': 40}."
        )
    for name in extra:
        if name in _SET_BY_THE_CALL:
            raise InvalidRequestError(
                f"extra_body cannot set `{name}`: {_SET_BY_THE_CALL[name]}."
            )
    return extra


def _unknown_message(name: str) -> str:
    if name in _SET_BY_THE_CALL:
        return f"`{name}` is not a keyword of this call: {_SET_BY_THE_CALL[name]}."
    if name in _SDK_OPTIONS:
        return (f"`{name}` is an OpenAI SDK option, not a request field: {_SDK_OPTIONS[name]}; "
                "body fields go in extra_body={...}.")
    candidates = (*FIELDS, *sorted(known_fields()), *_CALL_KEYWORDS)
    close = difflib.get_close_matches(name, candidates, n=3)
    hint = f": did you mean {' or '.join(f'`{c}`' for c in close)}?" if close else "."
    return (
        f"Unknown option `{name}`{hint} Options are settings (rpm, tpm, timeout... see "
        "llm_magics.configure) or Chat Completions fields (temperature, max_tokens, seed...). "
        f"To send a field this list does not know, use extra_body={{{name!r}: ...}}."
    )


def check_json_value(value: Any, where: str) -> None:
    """Refuse what JSON cannot carry: NaN/infinity, odd keys, objects, runaway nesting.

    The message says where: ``messages[0]['content'][1]['w'] is nan: ...``.
    """
    problem = _problem(value, 0)
    if problem is not None:
        path, what = problem
        raise InvalidRequestError(f"{where}{''.join(reversed(path))} {what}")


def _problem(value: Any, depth: int) -> tuple[list[str], str] | None:
    """``(path parts, innermost first; what is wrong)`` for the first bad value, else None.
    The path is built only on the way out of a failure: valid data costs no strings."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return [], (f"is {value!r}: JSON has no NaN or infinity, so it cannot be sent. Pass a "
                    "finite number (or leave it out for the server's default).")
    if depth >= MAX_JSON_DEPTH:
        return [], (f"is nested deeper than {MAX_JSON_DEPTH} levels (a list that contains "
                    "itself?): pass plain, finite JSON data.")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                return [], (f"has a key {key!r} of type {type(key).__name__}: JSON object keys "
                            "are strings (or ints, sent as strings); convert it with str().")
            problem = _problem(item, depth + 1)
            if problem is not None:
                problem[0].append(f"[{key!r}]")
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            problem = _problem(item, depth + 1)
            if problem is not None:
                problem[0].append(f"[{i}]")
                return problem
        return None
    return [], (f"is a {type(value).__module__}.{type(value).__qualname__}, which cannot be "
                "sent as JSON: pass plain numbers, strings, lists and dicts (e.g. int(x), "
                "float(x), x.tolist(), model.model_json_schema()).")
