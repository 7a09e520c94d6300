"""``Authorization: Bearer <key>`` checks with OpenAI's 401 bodies, for any of our servers.

Keys are compared in constant time (``hmac.compare_digest``) so response
timing does not reveal how much of a guessed key was right, and no message
ever repeats the key that was sent.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.types import Scope

from .openai_shapes import ErrorReply, unauthorized

__all__ = ["BearerKeys", "MISSING_KEY_MESSAGE", "bearer_token"]

MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def bearer_token(scope: Scope) -> str | None:
    """The token of the first ``Authorization: Bearer`` header, or ``None``."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


class BearerKeys:
    """The set of accepted keys; :meth:`check` returns the 401 to send, or ``None``."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [k.encode() for k in keys if k]

    @property
    def enabled(self) -> bool:
        """False when no key is configured: the server is open."""
        return bool(self._keys)

    def accepts(self, token: str) -> bool:
        given = token.encode()
        # Check every key (no early exit) so the answer time does not depend on which matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(given, key)
        return matched

    def check(self, scope: Scope) -> ErrorReply | None:
        if not self._keys:
            return None
        token = bearer_token(scope)
        if token is None:
            return ErrorReply(401, MISSING_KEY_MESSAGE)
        if not self.accepts(token):
            return unauthorized()
        return None

    def __repr__(self) -> str:
        return f"BearerKeys({len(self._keys)} key(s))"
