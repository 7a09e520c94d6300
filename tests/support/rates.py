"""Checking a rate limit where it matters: the times requests reached the server.

Arrival times are not grant times: on a loaded machine a request granted early
can be delayed on its way and land together with later ones, so a window at
the server can hold the grants of a slightly longer one. The bound allows that
much delivery jitter; a broken limit shows far above it (two clients that do
not share one limit send twice the rate).
"""

from __future__ import annotations

import bisect

DELIVERY_JITTER_S = 1.0


def most_in_any_window(times: list[float], seconds: float) -> int:
    """The most of the sorted ``times`` that fall in any ``seconds``-long window."""
    return max(bisect.bisect_right(times, t + seconds) - i for i, t in enumerate(times))


def window_bound(rpm: float, seconds: float, burst: float) -> float:
    """What a token bucket of ``rpm`` with ``burst`` banked may let through in a window,
    as seen by the server (delivery jitter included, +1 for the window's edge)."""
    return rpm / 60 * (seconds + DELIVERY_JITTER_S) + burst + 1
