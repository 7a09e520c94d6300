"""The upstream's model list, fetched on demand and trusted for a while.

Checking the model at the gateway answers an unknown name with OpenAI's 404
before the request spends a rate-limit slot, and gives every upstream the
same behaviour (llama.cpp, for one, answers any name with its only model).
A model that appeared upstream since the last fetch is found by one re-fetch;
if the list cannot be fetched at all the upstream decides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ... import errors
from ..openai_shapes import model_not_found

__all__ = ["ModelCatalog"]

REFETCH_FLOOR_S = 2.0
"""An unknown name triggers a re-fetch at most this often (a typo loop costs no upstream calls)."""


class ModelCatalog:
    """``/v1/models`` of the upstream plus the check ``resolve(model)``.

    ``served_model`` (the local model) maps every requested name to that one.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[dict[str, Any]]],
        *,
        ttl_s: float = 60.0,
        served_model: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.ttl_s = ttl_s
        self.served_model = served_model
        self._clock = clock
        self._listing: dict[str, Any] | None = None
        self._ids: frozenset[str] = frozenset()
        self._fetched_at = -float("inf")
        self._failed_until = -float("inf")
        self._lock = asyncio.Lock()

    async def _refresh(self, max_age: float) -> None:
        async with self._lock:
            if self._clock() - self._fetched_at < max_age:
                return  # someone refreshed while we waited
            if self._clock() < self._failed_until:
                raise errors.APIConnectionError("The upstream's model list is unavailable.")
            try:
                listing = await self._fetch()
            except errors.LLMError:
                self._failed_until = self._clock() + REFETCH_FLOOR_S  # do not ask on every call
                raise
            data = listing.get("data") if isinstance(listing, dict) else None
            self._listing = listing
            self._ids = frozenset(
                str(m.get("id")) for m in data or [] if isinstance(m, dict) and m.get("id")
            )
            self._fetched_at = self._clock()

    async def listing(self) -> dict[str, Any]:
        """The upstream's own ``/v1/models`` body (refetched when older than ``ttl_s``)."""
        await self._refresh(self.ttl_s)
        assert self._listing is not None
        return self._listing

    async def resolve(self, model: str) -> str:
        """The name to send upstream for ``model``, or OpenAI's 404 ``model_not_found``."""
        if self.served_model is not None:
            return self.served_model
        try:
            if self._clock() - self._fetched_at >= self.ttl_s:
                await self._refresh(self.ttl_s)
            if model not in self._ids:
                await self._refresh(REFETCH_FLOOR_S)
        except errors.LLMError:
            return model  # no list to check against: let the upstream answer
        if model not in self._ids:
            raise model_not_found(model)
        return model
