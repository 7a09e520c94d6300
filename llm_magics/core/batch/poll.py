"""How long to wait between two status polls: fixed, or backing off from 1 s to 60 s.

A real batch takes minutes to hours, so polling backs off (each poll is a
request against the account's limits); a small one can finish in a minute, so
it starts fast. Against the simulator, pass a fixed interval instead.

    >>> delays = poll_delays(None)
    >>> [next(delays) for _ in range(8)]
    [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    >>> next(poll_delays(0.05))
    0.05
"""

from __future__ import annotations

from collections.abc import Iterator

from .constants import POLL_FACTOR, POLL_INITIAL_S, POLL_MAX_S

__all__ = ["poll_delays"]


def poll_delays(poll: float | None = None, *, initial: float = POLL_INITIAL_S,
                cap: float = POLL_MAX_S, factor: float = POLL_FACTOR) -> Iterator[float]:
    """Endless waits: ``poll`` seconds each if given, else ``initial`` doubling up to ``cap``."""
    if poll is not None:
        if poll <= 0:
            raise ValueError(f"poll must be > 0 seconds, got {poll!r}")
        while True:
            yield float(poll)
    delay = initial
    while True:
        yield delay
        delay = min(delay * factor, cap)
