"""Circuit breaker per (base_url, model): stop hammering an endpoint that is down.

closed --N consecutive failures--> open --cool-down--> half-open --probe ok--> closed
                                     ^                      |
                                     +----probe failed------+

In half-open exactly one probe goes through; every other caller keeps failing
fast until the probe settles (common breaker libraries let every caller
through at once, which re-floods a recovering server).

In a concurrent fan-out, failures (a 503 answers in a millisecond) overtake
successes (which take the model's latency), so N failures in a row arrive even
when most calls are fine. The run only counts while fewer calls are still in
flight than failures have arrived: calls that may yet succeed hold it back. A
server that is down fails every call at once, so it still opens within one burst.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Literal

from ...errors import CircuitOpenError

__all__ = ["CircuitBreaker"]

log = logging.getLogger("llm_magics.breaker")

State = Literal["closed", "open", "half_open"]


@dataclass(eq=False)
class CircuitBreaker:
    """One endpoint's breaker; ``name`` is how its errors and log lines call the endpoint."""

    name: str
    _: KW_ONLY
    threshold: int = 5
    cooldown_s: float = 15.0
    clock: Callable[[], float] = time.monotonic
    state: State = field(default="closed", init=False)
    failures: int = field(default=0, init=False)
    opened_at: float = field(default=0.0, init=False)
    in_flight: int = field(default=0, init=False)
    _probe_out: bool = field(default=False, init=False)

    def configure(self, threshold: int, cooldown_s: float) -> None:
        self.threshold, self.cooldown_s = threshold, cooldown_s

    def _move(self, state: State) -> None:
        if state != self.state:
            log.debug("breaker %s: %s -> %s", self.name, self.state, state)
            self.state = state

    def before_call(self) -> bool:
        """Raise ``CircuitOpenError`` or let the call through; True if it is the probe."""
        if self.state == "closed":
            self.in_flight += 1
            return False
        if self.state == "open":
            retry_in = self.opened_at + self.cooldown_s - self.clock()
            if retry_in > 0:
                raise CircuitOpenError(
                    f"{self.name} is failing ({self.failures} failures in a row), so calls fail "
                    f"fast; the next try goes through in {retry_in:.1f}s. Check the server, "
                    "or wait and run again.",
                    retry_after_s=retry_in,
                )
            self._move("half_open")
        if self._probe_out:
            raise CircuitOpenError(
                f"{self.name} is being probed after failures; failing fast until the probe "
                "answers. Run again in a moment.",
                retry_after_s=1.0,
            )
        self._probe_out = True
        self.in_flight += 1
        return True

    def _ended(self) -> None:
        self._probe_out = False
        self.in_flight = max(0, self.in_flight - 1)

    def on_success(self) -> None:
        self._ended()
        self.failures = 0
        self._move("closed")

    def on_failure(self) -> None:
        self._ended()
        self.failures += 1
        tripped = self.failures >= self.threshold and self.in_flight < self.failures
        if self.state == "half_open" or tripped:
            self.opened_at = self.clock()
            self._move("open")

    def release_probe(self) -> None:
        """A call ended without a verdict (cancelled): let another probe go."""
        self._ended()

    @property
    def at_rest(self) -> bool:
        """Nothing in flight and the next call would go through (closed, or its cool-down is
        over): dropping it forgets at most a partial count of failures."""
        return self.in_flight == 0 and (
            self.state == "closed" or self.clock() >= self.opened_at + self.cooldown_s)

    def snapshot(self) -> dict[str, object]:
        retry_in = self.opened_at + self.cooldown_s - self.clock() if self.state == "open" else 0
        return {"state": self.state, "failures": self.failures, "in_flight": self.in_flight,
                "retry_in_s": round(max(0.0, retry_in), 3)}
