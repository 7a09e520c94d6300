"""What a ``{placeholder}`` may reach: the rules that keep a pasted prompt from acting.

A placeholder reads; it never acts and never leaks. So, checked before each step:

- calls: only the display calls in :data:`ALLOWED_CALLS`, without arguments, and
  only on the kind of value each is listed for;
- modules are neither walked into nor written: ``{os.environ}``, ``{math.pi}``
  and ``{os}`` are refused (assign the value to a variable in a cell first);
- the environment (``os.environ``, however it was reached) is read one variable at
  a time and never by a name that looks like a secret (``KEY``, ``TOKEN``,
  ``SECRET``, ``PASSWORD``, ...);
- the filled prompt never contains the configured API key.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..core import settings as settings_mod
from ..errors import TemplateError

__all__ = ["ALLOWED_CALLS", "MIN_SECRET_CHARS", "allowed_calls_text", "check_call_name",
           "check_step", "check_value", "check_secrets", "configured_secrets", "is_pandas"]

MIN_SECRET_CHARS = 8
"""A key shorter than this is a placeholder value, not a secret, and is not searched for."""

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASS|CRED|AUTH|COOKIE|SESSION|PRIVATE", re.I)
_ASSIGN_FIRST = "Compute it in a cell first (x = ...), then write {x}."


def is_pandas(value: Any) -> bool:
    return type(value).__module__.split(".", 1)[0] == "pandas"


def _is_environ(value: Any) -> bool:
    return isinstance(value, type(os.environ))


@dataclass(frozen=True)
class CallRule:
    """Calls without arguments that only read, allowed on one kind of value."""

    kind: str
    accepts: Callable[[Any], bool]
    names: tuple[str, ...]


ALLOWED_CALLS = (
    CallRule("a pandas DataFrame, Series or Index", is_pandas,
             ("head", "tail", "describe", "to_markdown", "to_string", "to_csv", "to_json")),
    CallRule("a dict or other mapping", lambda v: isinstance(v, Mapping) and not _is_environ(v),
             ("keys", "values", "items")),
    CallRule("a string", lambda v: isinstance(v, str), ("strip", "lower", "upper", "title")),
)
_CALL_NAMES = frozenset(name for rule in ALLOWED_CALLS for name in rule.names)


def allowed_calls_text() -> str:
    """The allow-list as one sentence, for error messages and help."""
    return "; ".join(f"on {rule.kind}: " + ", ".join(f".{n}()" for n in rule.names)
                     for rule in ALLOWED_CALLS)


def check_call_name(name: str) -> str | None:
    """Why ``name()`` can never be called in a template, or ``None`` if it may be."""
    if name in _CALL_NAMES:
        return None
    return (f"{name}() is not one of the calls a template may make. Allowed, without "
            f"arguments, {allowed_calls_text()}. {_ASSIGN_FIRST}")


def check_step(where: str, value: Any, kind: str, key: Any) -> None:
    """Refuse a step (``attr``, ``index`` or ``call`` named ``key``) into ``value``."""
    _refuse_module(where, value)
    if _is_environ(value):
        if kind != "index":
            raise TemplateError(
                f"{where}: the environment is read one variable at a time, like {{env['HOME']}}."
            )
        if isinstance(key, str) and _SECRET_NAME.search(key):
            raise TemplateError(
                f"{where}: {key!r} looks like a secret (its name has KEY, TOKEN, SECRET, "
                "PASSWORD or the like); secrets are not read into a prompt."
            )
    if kind == "call":
        rule = next((r for r in ALLOWED_CALLS if key in r.names), None)
        if rule is None or not rule.accepts(value):
            raise TemplateError(
                f"{where}: .{key}() is allowed only {_on_kinds(key)}, not on "
                f"{type(value).__name__}. {_ASSIGN_FIRST}"
            )


def _refuse_module(where: str, value: Any) -> None:
    if isinstance(value, types.ModuleType):
        raise TemplateError(
            f"{where}: {value.__name__!r} is a module; templates read values and do not "
            f"reach into modules. {_ASSIGN_FIRST}"
        )


def _on_kinds(name: str) -> str:
    return " or ".join(f"on {r.kind}" for r in ALLOWED_CALLS if name in r.names)


def check_value(where: str, value: Any) -> None:
    """Refuse a value that must not be written into a prompt whole."""
    _refuse_module(where, value)
    if _is_environ(value):
        raise TemplateError(
            f"{where}: the whole environment is not written into a prompt; read one "
            "variable, like {env['HOME']}."
        )


def configured_secrets() -> tuple[str, ...]:
    """The resolved API key, if one is set and long enough to be a secret."""
    key = settings_mod.resolve().key_value()
    return (key,) if key and len(key) >= MIN_SECRET_CHARS else ()


def check_secrets(where: str, text: str, secrets: tuple[str, ...]) -> None:
    """Refuse text that contains a secret (in any letter case)."""
    folded = text.casefold()
    if any(secret.casefold() in folded for secret in secrets):
        raise TemplateError(
            f"{where} contains the configured API key; a key is never sent in a prompt. "
            "Remove that placeholder."
        )
