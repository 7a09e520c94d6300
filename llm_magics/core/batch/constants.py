"""Every tunable number of the Batch API path, in one place.

The limits are OpenAI's published ones for ``/v1/batches``: a batch input
file holds at most 50,000 requests and 200 MB. The poll schedule starts fast
(a small batch can finish in a minute) and backs off to a minute, because a
real batch takes minutes to hours and every poll is a request.
"""

from __future__ import annotations

__all__ = [
    "MAX_REQUESTS_PER_BATCH",
    "MAX_BYTES_PER_BATCH",
    "BATCH_ENDPOINT",
    "COMPLETION_WINDOW",
    "POLL_INITIAL_S",
    "POLL_MAX_S",
    "POLL_FACTOR",
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "STATE_ORDER",
    "CUSTOM_ID_HASH_CHARS",
    "METADATA_JOB_KEY",
    "METADATA_DEADLINE_KEY",
]

MAX_REQUESTS_PER_BATCH = 50_000
"""Most request lines in one batch input file (OpenAI's limit)."""

MAX_BYTES_PER_BATCH = 200 * 1024 * 1024
"""Largest batch input file in bytes (OpenAI's 200 MB limit)."""

BATCH_ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"

POLL_INITIAL_S = 1.0
"""First wait between two status polls; doubled after each poll ..."""
POLL_MAX_S = 60.0
"""... up to this cap."""
POLL_FACTOR = 2.0

ACTIVE_STATES = ("validating", "in_progress", "finalizing", "cancelling")
TERMINAL_STATES = frozenset({"completed", "failed", "expired", "cancelled"})
STATE_ORDER = {"validating": 0, "in_progress": 1, "finalizing": 2}
"""How far along a running batch is: a job is as far along as its slowest batch."""

CUSTOM_ID_HASH_CHARS = 12
"""Hex digits of the request hash in a ``custom_id`` (``req-<position>-<hash>``)."""

METADATA_JOB_KEY = "llm_magics_job"
"""Batch metadata key naming the job a server batch belongs to (visible in the dashboard)."""

METADATA_DEADLINE_KEY = "llm_magics_deadline"
"""Job metadata key holding a watched batch's deadline (Unix seconds), for the tracker to show."""
