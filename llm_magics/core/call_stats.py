"""``CallStats``: the counters a caller watches while its calls run (progress widgets,
``map(stats=...)``), and the engine's process-wide totals."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .types import Response

__all__ = ["CallStats"]


@dataclass
class CallStats:
    """Counters a caller can watch while its calls run (progress widgets read these)."""

    attempts: int = 0
    retries: int = 0
    rate_limited: int = 0
    cached: int = 0
    completed: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    paused_until: float = 0.0
    """``time.monotonic()`` until which a 429 paused these calls' endpoint."""

    @property
    def paused_for_s(self) -> float:
        """Seconds the endpoint stays paused after a 429 (progress displays show it)."""
        return max(0.0, self.paused_until - time.monotonic())

    def counters(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "paused_until"}

    def add_response(self, response: Response) -> None:
        self.completed += 1
        self.cached += response.cached
        self.prompt_tokens += response.usage.prompt_tokens
        self.completion_tokens += response.usage.completion_tokens
        if response.cost_usd:
            self.cost_usd += response.cost_usd
