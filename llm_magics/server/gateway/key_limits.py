"""Each client key's own share of the upstream: per-key RPM/TPM, answered at once with a 429.

The shared limiter queues every client's calls by priority and arrival; on
its own, one tenant that floods it delays everyone behind its queue. A
per-key window in front of it turns a tenant's excess into that tenant's 429
(with ``Retry-After``, which the SDK honours) before anything is queued, so
the shared queue holds at most each tenant's share. Token use is the
request's estimate (prompt + ``max_tokens`` for each of its ``n`` choices).

A request estimated above the gateway's shared ``--tpm`` could never fit it:
the shared limiter would let it through alone and then hold every tenant
while its debt refills, so it is refused here too (400) before any queue.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from ..constants import TENANT_WINDOW_S
from ..openai_shapes import ErrorReply, rate_limited
from .tenants import Tenant

__all__ = ["KeyLimits"]


def _too_large(tokens: int, limit: int, whose: str, code: str) -> ErrorReply:
    return ErrorReply(
        400, f"This request needs about {tokens} tokens, more than {whose} limit of {limit} "
        "tokens per minute; lower max_tokens (or n) or shorten it.",
        param="max_tokens", code=code)


class _Window:
    __slots__ = ("entries", "tokens")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.tokens = 0

    def expire(self, before: float) -> None:
        while self.entries and self.entries[0][0] <= before:
            self.tokens -= self.entries.popleft()[1]


class KeyLimits:
    """Sliding windows per tenant; :meth:`admit` records a request or returns its 429.

    >>> limits = KeyLimits()
    >>> limits.admit(Tenant("a", rpm=1), 10) is None, limits.admit(Tenant("a", rpm=1), 10).code
    (True, 'rate_limit_exceeded')
    """

    def __init__(self, window_s: float = TENANT_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic, *,
                 shared_tpm: int | None = None) -> None:
        self.window_s = window_s
        self.clock = clock
        self.shared_tpm = shared_tpm
        self._windows: dict[str, _Window] = {}

    def oversize(self, tokens: int) -> ErrorReply | None:
        """The 400 for a request the gateway's shared TPM could never hold, or ``None``."""
        if self.shared_tpm is not None and tokens > self.shared_tpm:
            return _too_large(tokens, self.shared_tpm, "this gateway's shared",
                              "tokens_exceed_gateway_limit")
        return None

    def admit(self, tenant: Tenant, tokens: int) -> ErrorReply | None:
        refusal = self.oversize(tokens)
        if refusal is not None:
            return refusal
        if tenant.rpm is None and tenant.tpm is None:
            return None
        now = self.clock()
        window = self._windows.setdefault(tenant.id, _Window())
        window.expire(now - self.window_s)
        if tenant.rpm is not None and len(window.entries) >= tenant.rpm:
            return self._refuse(window, now, "requests",
                                f"{tenant.rpm} requests per minute for this key")
        if tenant.tpm is not None and window.tokens + tokens > tenant.tpm:
            if tokens > tenant.tpm:
                return _too_large(tokens, tenant.tpm, "this key's", "tokens_exceed_key_limit")
            return self._refuse(window, now, "tokens",
                                f"{tenant.tpm} tokens per minute for this key")
        window.entries.append((now, tokens))
        window.tokens += tokens
        return None

    def _refuse(self, window: _Window, now: float, kind: str, what: str) -> ErrorReply:
        oldest = window.entries[0][0] if window.entries else now
        wait = max(1, math.ceil(oldest + self.window_s - now))
        return rate_limited(
            f"Rate limit reached for this gateway key: {what}. Try again in {wait}s.",
            kind=kind, headers={"retry-after": str(wait)})
