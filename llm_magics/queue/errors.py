"""Errors of the queue face: both say what to start or set, so a missing service is not a hang.

    LLMError
    └── QueueError                 the queue cannot run the calls
        ├── BrokerUnavailableError Redis cannot be reached at redis_url
        └── NoWorkerError          no ``llm-magics worker`` answers
"""

from __future__ import annotations

from ..errors import LLMError

__all__ = ["QueueError", "BrokerUnavailableError", "NoWorkerError"]


class QueueError(LLMError):
    """The queue (Redis + Celery workers) cannot run the calls."""


class BrokerUnavailableError(QueueError):
    """Redis, the broker and result backend, cannot be reached."""


class NoWorkerError(QueueError):
    """No worker consumes the queue, so enqueued calls would wait forever."""
