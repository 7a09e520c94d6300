"""Tunable numbers of the core that are not settings: one place to read and change them."""

from __future__ import annotations

__all__ = ["RETRY_AFTER_MAX_S", "RATE_LIMIT_PAUSE_S", "STREAM_DRAIN_S"]

RETRY_AFTER_MAX_S = 60.0
"""The longest server ``Retry-After`` that is honoured, in seconds (openai-python's cap too).

Up to this, a 429's call waits that long before its retry and every call to the
endpoint pauses as long. A longer value (a quota that is gone for an hour)
fails that call at once with ``RateLimitError`` instead of waiting, and pauses
the endpoint only for ``RATE_LIMIT_PAUSE_S``: one header never freezes the process.
"""

RATE_LIMIT_PAUSE_S = 1.0
"""How long every call to an endpoint pauses after a 429 that gives no usable wait."""

STREAM_DRAIN_S = 1.0
"""After ``[DONE]``, how long to wait for the body's end so the connection can be reused."""
