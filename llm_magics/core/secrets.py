"""Keeping secrets out of anything shown: API keys and passwords inside URLs.

Every face shows settings, URLs and server messages; they all go through these
helpers, so a key or a ``redis://:password@host`` never reaches a notebook, a
log line or an error::

    >>> mask_url("redis://:hunter2@cache.internal:6379/0")
    'redis://:***@cache.internal:6379/0'
    >>> redact("Incorrect API key provided: sk-live-123456789.", "sk-live-123456789")
    'Incorrect API key provided: ***.'
"""

from __future__ import annotations

import re

from .constants import MIN_SECRET_CHARS

__all__ = ["MASK", "mask_key", "mask_url", "mask_urls", "redact"]

MASK = "***"

# scheme://userinfo@ ; the greedy userinfo stops at the authority's last "@", like urlsplit.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#]*)@")


def mask_key(key: str | None) -> str | None:
    """Show that a key is set without revealing it: ``sk-...wxyz`` style, never more."""
    if not key:
        return None
    return f"{key[:3]}...{key[-4:]}" if len(key) > 12 else MASK


def _masked_userinfo(match: re.Match[str]) -> str:
    user, sep, _password = match["userinfo"].partition(":")
    return f"{match['scheme']}{user}:{MASK}@" if sep else match[0]


def mask_urls(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password masked."""
    if "://" not in text:
        return text
    return _URL_USERINFO.sub(_masked_userinfo, text)


def mask_url(url: str) -> str:
    """``redis://:secret@host:6379/0`` -> ``redis://:***@host:6379/0``: safe to show."""
    return mask_urls(url)


def redact(text: str, *keys: str | None) -> str:
    """``text`` with each key masked where it stands as a whole token, and URL passwords masked.

    Keys shorter than ``MIN_SECRET_CHARS`` are left alone (see there); a key is
    masked only between non-alphanumeric neighbours, so a short key never cuts
    a word of the message apart.
    """
    for key in keys:
        if key and len(key) >= MIN_SECRET_CHARS and key in text:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(key)}(?![A-Za-z0-9])", MASK, text)
    return mask_urls(text)
