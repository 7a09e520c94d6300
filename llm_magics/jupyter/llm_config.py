"""``%llm_config``: read ``name=value`` pairs, and show the settings as a table with the key masked.

Values go through :func:`llm_magics.core.settings.configure`, so the magic,
IPython config and ``llm_magics.configure()`` are one layer and validate alike.
The table is built from ``Settings.public_dict()``: the API key shows as
``sk-...wxyz`` at most, and a password inside a URL as ``***``.

    >>> parse_assignments(["model=gpt-4o-mini", "rpm=500", "tpm=none"])
    {'model': 'gpt-4o-mini', 'rpm': '500', 'tpm': None}
"""

from __future__ import annotations

import html
import os
from typing import Any

from IPython.core.error import UsageError

from ..core.secrets import mask_url
from ..core.settings import ENV_PREFIX, URL_FIELDS, Settings, configured, mask_key

__all__ = ["parse_assignments", "settings_rows", "settings_bundle", "describe_assignments"]

# The environment names settings also read besides LLM_MAGICS_<NAME> (see core.settings).
_OTHER_ENV = {"api_key": "OPENAI_API_KEY", "base_url": "OPENAI_BASE_URL"}
_EMPTY = {"", "none", "null"}


def parse_assignments(tokens: list[str]) -> dict[str, Any]:
    """``["rpm=500", "tpm=none"]`` to ``{"rpm": "500", "tpm": None}``; ``none`` unsets."""
    values: dict[str, Any] = {}
    for token in tokens:
        name, sep, raw = token.partition("=")
        if not sep or not name.strip():
            raise UsageError(
                f"Expected name=value, got {token!r}. "
                "Example: %llm_config model=gpt-4o-mini rpm=500"
            )
        values[name.strip()] = None if raw.strip().lower() in _EMPTY else raw.strip()
    return values


def describe_assignments(values: dict[str, Any]) -> str:
    """``model='x', rpm=500`` for the confirmation line; the key and URL passwords masked."""
    shown = []
    for name, value in values.items():
        if name == "api_key" and value is not None:
            value = mask_key(str(value))
        elif name in URL_FIELDS and value is not None:
            value = mask_url(str(value))
        shown.append(f"{name}={'(unset)' if value is None else repr(value)}")
    return ", ".join(shown)


def _source(name: str, set_here: dict[str, Any]) -> str:
    if name in set_here:
        return "configured"
    env = (ENV_PREFIX + name.upper(), _OTHER_ENV.get(name))
    if any(e and os.environ.get(e) for e in env):
        return "environment"
    return "default"


def settings_rows(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, shown value, where it came from) for every setting; the key masked."""
    set_here = configured()
    public = settings.public_dict()
    return [(name, "" if value is None else str(value), _source(name, set_here))
            for name, value in public.items()]


def settings_bundle(settings: Settings) -> dict[str, str]:
    """The settings table as HTML and aligned text."""
    rows = settings_rows(settings)
    width = max(len(name) for name, _, _ in rows)
    text = "\n".join(f"{name:<{width}}  {value or '-'}  ({source})" for name, value, source in rows)
    body = "".join(
        f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(value) or '&ndash;'}</td>"
        f"<td><small>{source}</small></td></tr>"
        for name, value, source in rows
    )
    table = (
        "<table><thead><tr><th>setting</th><th>value</th><th>from</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
    return {"text/plain": text, "text/html": table}
