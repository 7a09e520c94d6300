"""Request counters behind ``GET /_sim/stats``.

Tests and benchmarks judge the client from the server's side: how many calls
really arrived (did the cache work?), how many were refused (did the limiter
hold?), the peak of concurrent requests (is the concurrency bound honoured?),
and when accepted calls arrived (what rate was achieved?).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

MAX_TIMES = 100_000
"""Cap on stored acceptance timestamps, so a long benchmark cannot eat memory."""


class SimStats:
    """Plain counters mutated on the server's event loop; snapshots are JSON-ready."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero the counters; ``in_flight`` is live state and survives (requests still run)."""
        self.started_at = time.time()
        self.requests = 0
        self.chat_requests = 0
        self.chat_streams = 0
        self.chat_ok = 0
        self.rate_limited = 0
        self.server_errors = 0
        self.client_errors = 0
        self.hangs = 0
        self.drops = 0
        self.malformed = 0
        self.max_in_flight = self.in_flight
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.status_counts: Counter[int] = Counter()
        self.per_model: Counter[str] = Counter()
        self.batch_counts: Counter[str] = Counter()
        self.files_uploaded = 0
        self.accepted_times: list[float] = []

    def record_status(self, status: int) -> None:
        self.status_counts[status] += 1
        if status == 429:
            self.rate_limited += 1
        elif status >= 500:
            self.server_errors += 1
        elif status >= 400:
            self.client_errors += 1

    def accept(self, model: str) -> None:
        """A chat request passed validation and limits and is being answered."""
        self.per_model[model] += 1
        if len(self.accepted_times) < MAX_TIMES:
            self.accepted_times.append(time.time())

    def enter(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self) -> None:
        self.in_flight -= 1

    def snapshot(self, include_times: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "started_at": self.started_at,
            "requests": self.requests,
            "chat_requests": self.chat_requests,
            "chat_streams": self.chat_streams,
            "chat_ok": self.chat_ok,
            "rate_limited": self.rate_limited,
            "server_errors": self.server_errors,
            "client_errors": self.client_errors,
            "hangs": self.hangs,
            "drops": self.drops,
            "malformed": self.malformed,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
            "per_model": dict(self.per_model),
            "batches": dict(self.batch_counts),
            "files_uploaded": self.files_uploaded,
            "accepted": len(self.accepted_times),
        }
        if include_times:
            data["accepted_times"] = list(self.accepted_times)
        return data
