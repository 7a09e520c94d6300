"""Tunable numbers of the HTTP servers (simulator and gateway), in one place.

Defaults that an operator may want to change are also flags of
``llm-magics serve``; the rest are limits no honest client comes near.
"""

from __future__ import annotations

__all__ = [
    "MAX_ACTIVE_BATCHES",
    "MAX_BATCH_LINES",
    "BODY_IDLE_TIMEOUT_S",
    "BODY_TOTAL_TIMEOUT_S",
    "HEADER_TIMEOUT_S",
    "KEEP_ALIVE_S",
    "MAX_CONNECTIONS",
    "MAX_HEADER_BYTES",
    "MAX_JSON_BODY_MB",
    "MAX_JSON_DEPTH",
    "MAX_STORAGE_MB",
    "OVERSIZE_DRAIN_BYTES",
    "TENANT_WINDOW_S",
    "WRITE_TIMEOUT_S",
]

MAX_ACTIVE_BATCHES = 16
"""Batches one client key may have running at once (``--max-active-batches``): each holds its
pending lines in memory, so a key that started hundreds would hold hundreds of copies."""

MAX_STORAGE_MB = 10_240.0
"""Bytes of files one client key may keep on the gateway (``--max-storage-mb``): uploads stay
until deleted, and the disk they fill is the one every tenant's batches and caches use."""

MAX_BATCH_LINES = 50_000
"""Most requests in one batch input file, as OpenAI allows: a 200 MB file of tiny lines would
otherwise be over a million parsed bodies held in memory."""

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects in a JSON body; a tool schema needs ~20, a bomb 100,000."""

MAX_JSON_BODY_MB = 4.0
"""Default cap on a JSON request body (``--max-body-mb``); OpenAI's own request limit is larger,
but a chat body over a few MB is a mistake or an attack on a shared gateway."""

OVERSIZE_DRAIN_BYTES = 1024 * 1024
"""An oversize body declared up to this much over the cap is read and discarded before the 413,
so a client that writes its whole body first (the SDK) reads the answer instead of a reset;
a larger one is answered at once and the connection closed without reading it."""

HEADER_TIMEOUT_S = 10.0
"""A request's headers must arrive within this long of its first byte (``--header-timeout-s``)."""

MAX_HEADER_BYTES = 64 * 1024
"""Most header bytes a request may send before its headers are complete."""

BODY_IDLE_TIMEOUT_S = 10.0
"""Longest pause between two pieces of a request body (``--body-timeout-s``)."""

BODY_TOTAL_TIMEOUT_S = 60.0
"""A JSON body (bounded by ``--max-body-mb``) must arrive in full within this long."""

WRITE_TIMEOUT_S = 30.0
"""A response the client stops reading (its TCP window stays full) is cut off after this long
(``--write-timeout-s``): a stream it never reads would otherwise hold a shared slot forever."""

KEEP_ALIVE_S = 30
"""An idle keep-alive connection is closed after this many seconds (``--keep-alive-s``)."""

MAX_CONNECTIONS = 1000
"""Connections + requests at once before new ones get 503 (``--max-connections``)."""

TENANT_WINDOW_S = 60.0
"""Per-key ``rpm``/``tpm`` are counted over a sliding window of this length."""
