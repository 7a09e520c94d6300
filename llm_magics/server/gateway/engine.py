"""The core engine with the gateway's in-flight bound (``--concurrency``) around every call.

Everything else is the core's policy stack, unchanged: one cache, one breaker
and one RPM/TPM limiter per (upstream, model) shared by every client of the
gateway and by its batches. The bound sits outside the engine so a call
waiting for a slot holds no limiter capacity, and a stream keeps its slot
until its last chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ...core.endpoint import Endpoint
from ...core.engine import Engine
from ...core.settings import Settings
from ...core.types import Request, Response
from .slots import PrioritySlots

__all__ = ["GatewayEngine"]


class GatewayEngine(Engine):
    """An :class:`Engine` whose calls each hold one of ``slots`` while they run."""

    def __init__(self, slots: PrioritySlots) -> None:
        super().__init__()
        self.slots = slots

    async def complete(self, request: Request, endpoint: Endpoint, settings: Settings,
                       **options: Any) -> Response:
        """The core's ``complete`` (options passed through as they are) inside one slot."""
        async with self.slots.hold(request.priority):
            return await super().complete(request, endpoint, settings, **options)

    async def stream(self, request: Request, endpoint: Endpoint, settings: Settings,
                     **options: Any) -> AsyncIterator[str | Response]:
        """The core's ``stream``, holding one slot until the stream is closed."""
        async with self.slots.hold(request.priority):
            inner = super().stream(request, endpoint, settings, **options)
            try:
                async for item in inner:
                    yield item
            finally:
                await inner.aclose()
