"""Mutable per-server state: the live config and everything derived from it.

Handlers read ``state.config`` on every request instead of capturing values,
which is what makes ``POST /_sim/config`` (and ``SimApp.sim.configure()``) take
effect immediately, even for a server that is already under load.
"""

from __future__ import annotations

from typing import Any

from .config import SimConfig
from .faults import FaultDice
from .limits import RateLimiter
from .stats import SimStats

RESET_SCOPES = ("stats", "run", "all")


class SimState:
    """Config, counters, limiter buckets and fault dice (the batch store reads them)."""

    def __init__(self, config: SimConfig) -> None:
        self.initial_config = config
        self.config = config
        self.stats = SimStats()
        self.limiter = RateLimiter(config.rpm, config.tpm)
        self.dice = FaultDice(config.seed)
        self.closing = False
        """Set when the server shuts down so hung requests give up at once."""

    def configure(self, **switches: Any) -> SimConfig:
        """Apply switches atomically (validated first); limits restart if they changed."""
        new = self.config.updated(**switches)
        old = self.config
        self.config = new
        if (new.rpm, new.tpm) != (old.rpm, old.tpm):
            self.limiter = RateLimiter(new.rpm, new.tpm)
        if new.seed != old.seed:
            self.dice.reseed(new.seed)
        return new

    def reset(self, scope: str = "run") -> None:
        """Start afresh without restarting the server.

        ``stats`` zeroes the counters only; ``run`` also empties the rate-limit
        windows and rewinds the fault dice to the seed (a replay sees the same
        faults); ``all`` also restores the switches the server started with.
        Files and batches are kept in every case.
        """
        if scope not in RESET_SCOPES:
            raise ValueError(f"reset scope must be one of {', '.join(RESET_SCOPES)}")
        self.stats.reset()
        if scope == "stats":
            return
        if scope == "all":
            self.config = self.initial_config
        self.limiter = RateLimiter(self.config.rpm, self.config.tpm)
        self.dice.reseed(self.config.seed)
