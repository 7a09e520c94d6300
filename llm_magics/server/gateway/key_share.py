"""Each client key's share of the requests in flight, so one key cannot hold every slot.

The concurrency bound (``--concurrency``) is shared: slots go by priority,
then arrival, so a key that keeps as many long requests in flight as there
are slots (streams, slow uploads, waiting calls) makes every other key wait
behind it. With two or more keys each may have at most ``limit`` requests in
flight (``--key-concurrency``; by default half the slots); the next is a 429
at once, before its body is read, and never queues for a slot.

    >>> share = KeyShare(1)
    >>> share.enter("a") is None, share.enter("a").code
    (True, 'too_many_requests_in_flight')
"""

from __future__ import annotations

from ..openai_shapes import ErrorReply

__all__ = ["KeyShare", "key_share_limit"]


def key_share_limit(configured: int | None, concurrency: int, keys: int) -> int | None:
    """The share to enforce: ``configured``, else half the slots when keys share them."""
    if configured is not None:
        return configured
    return max(1, concurrency // 2) if keys > 1 else None


class KeyShare:
    """Requests in flight per tenant; :meth:`enter` admits one or returns its 429."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}

    def enter(self, tenant: str) -> ErrorReply | None:
        if self.limit is None:
            return None
        count = self._in_flight.get(tenant, 0)
        if count >= self.limit:
            return ErrorReply(
                429, f"This key has {count} requests in flight, its share of this gateway "
                "(--key-concurrency); wait for one to finish before sending more.",
                type="requests", code="too_many_requests_in_flight",
                headers={"retry-after": "1"})
        self._in_flight[tenant] = count + 1
        return None

    def leave(self, tenant: str) -> None:
        if self.limit is None:
            return
        count = self._in_flight.pop(tenant, 1) - 1
        if count:
            self._in_flight[tenant] = count
