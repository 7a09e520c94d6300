"""Queue tunables in one place: priorities, names, and the timeouts that trade safety for speed.

These are queue-only knobs, so they live here rather than in ``core.settings``;
each reads an ``LLM_MAGICS_QUEUE_*`` environment variable so a worker and the
notebook that feeds it can be tuned without code.

Two clocks decide when a dead worker's tasks run again. Tasks are acknowledged
late (after they finish), so Redis keeps every delivered task in an "unacked"
set until then. Each ``llm-magics worker`` beats every ``heartbeat_interval_s``
(a key with a ``heartbeat_ttl_s`` TTL, plus the tasks it holds); once a beat
lapses, any live worker or submitter republishes that worker's tasks at once
(``heartbeat``, ``reaper``), so a killed worker costs seconds. The visibility
timeout is only the fallback for tasks nobody republished (a worker started
without the heartbeat, or one that hangs while still beating): a task unacked
for ``visibility_timeout_s`` is handed out again. Keep it long: too short, and a
slow but healthy call (a long completion, retries under a 429 storm) is
delivered a second time while it still runs. A second delivery never pays
twice (``claims``), but it does run twice as long.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from ..core.types import Priority

__all__ = [
    "PRIORITY_LEVELS",
    "QUEUE_NAME",
    "TASK_NAME",
    "QueueConfig",
    "level_for",
    "priority_for_level",
]

#: Redis priority of each of our priorities. On the Redis transport **0 is the highest**;
#: kombu keeps one list per level and pops them in order, so a level-0 task is taken
#: before any level-9 task already waiting, however many there are.
PRIORITY_LEVELS: dict[str, int] = {"interactive": 0, "high": 3, "bulk": 9}

#: The queue our tasks travel on (not Celery's "celery", so we share no queue with
#: another app on the same Redis).
QUEUE_NAME = "llm-magics"
TASK_NAME = "llm_magics.queue.complete"

ENV_PREFIX = "LLM_MAGICS_QUEUE_"


def level_for(priority: str) -> int:
    """Redis priority level for ``interactive`` / ``high`` / ``bulk``."""
    try:
        return PRIORITY_LEVELS[priority]
    except KeyError:
        raise ValueError(
            f"priority must be one of {', '.join(PRIORITY_LEVELS)}, got {priority!r}"
        ) from None


def priority_for_level(level: Any) -> Priority:
    """The priority a delivered message was sent with (unknown: bulk)."""
    try:
        n = int(level)
    except (TypeError, ValueError):
        return "bulk"
    if n <= PRIORITY_LEVELS["interactive"]:
        return "interactive"
    return "high" if n <= PRIORITY_LEVELS["high"] else "bulk"


@dataclass(frozen=True)
class QueueConfig:
    """Queue knobs; ``QueueConfig.from_env()`` reads ``LLM_MAGICS_QUEUE_<FIELD>``."""

    visibility_timeout_s: float = 1800.0
    """Seconds an unacked task waits before Redis hands it to another worker (see above)."""
    restore_interval_s: float = 30.0
    """How often each worker sweeps for unacked tasks older than the visibility timeout."""
    result_expires_s: float = 86400.0
    """Results nobody collected are dropped after this long (collected ones at once)."""
    ping_timeout_s: float = 2.0
    """Longest wait for a worker to answer a ping before "no worker is running"."""
    connect_timeout_s: float = 2.0
    """Longest wait to connect to Redis before "Redis is unreachable"."""
    poll_interval_s: float = 0.1
    """How often the submitter reads finished results from the backend."""
    poll_window: int = 2000
    """Most task ids read per poll (the oldest pending first), so a 100k-row run stays cheap."""
    stall_check_s: float = 15.0
    """With no result for this long, ping the workers; none answering is an error, not a hang."""
    burst_s: float = 1.0
    """Seconds of capacity the shared limiter banks (like the in-process limiter)."""
    heartbeat_interval_s: float = 1.0
    """How often a worker says it is alive (and which tasks it holds), and looks for dead ones."""
    heartbeat_ttl_s: float = 5.0
    """A worker silent this long is dead: its tasks are republished at once."""
    claim_ttl_s: float = 15.0
    """Lease on one request's upstream call, renewed while it runs; a duplicate takes over
    once it lapses (or at once, when the holder's worker stopped beating)."""
    claim_poll_s: float = 0.2
    """How often a duplicate task checks whether the holder of its claim has answered."""
    answer_ttl_s: float = 3600.0
    """Paid answers stay in Redis this long, for tasks delivered again (keep above the
    visibility timeout)."""

    @classmethod
    def from_env(cls, **overrides: Any) -> QueueConfig:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get(ENV_PREFIX + f.name.upper().removesuffix("_S"))
            if raw not in (None, ""):
                values[f.name] = int(raw) if f.type in ("int", int) else float(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> QueueConfig:
        return dataclasses.replace(self, **changes)
