"""Fault dice: which chat requests fail, hang, drop, end early or emit malformed bodies.

Every request draws the same number of random values whatever the rates, so
the sequence of faults depends only on the seed and the request order, not on
which switches happen to be on. Reconfiguring live therefore does not shift
later draws, and a test that replays the same requests sees the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .config import SimConfig


@dataclass(frozen=True)
class FaultPlan:
    """What goes wrong with one request; all false means a clean answer."""

    error_status: int | None = None
    hang: bool = False
    drop_before_first_token: bool = False
    drop: bool = False
    malformed: bool = False
    truncate: bool = False
    """The stream ends cleanly at ``position``, without a finish_reason or ``[DONE]``."""
    bad_body: bool = False
    """A 200 whose body is no answer (``SimConfig.bad_body`` says which kind)."""
    position: float = 0.5
    """Where in the stream a drop, truncation or malformed chunk happens, as a share of tokens."""


class FaultDice:
    """A seeded source of :class:`FaultPlan`; reseeded on reset or when ``seed`` changes."""

    def __init__(self, seed: int | None) -> None:
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def roll(self, config: SimConfig) -> FaultPlan:
        draws = [self._rng.random() for _ in range(8)]
        if config.fail_status is not None:
            return FaultPlan(error_status=config.fail_status)
        if draws[0] < config.error_rate:
            return FaultPlan(error_status=config.error_status)
        return FaultPlan(
            hang=draws[1] < config.hang_rate,
            drop_before_first_token=draws[2] < config.drop_before_first_token_rate,
            drop=draws[3] < config.drop_rate,
            malformed=draws[4] < config.malformed_rate,
            position=0.25 + draws[5] * 0.5,
            truncate=draws[6] < config.truncate_rate,
            bad_body=draws[7] < config.bad_body_rate,
        )
