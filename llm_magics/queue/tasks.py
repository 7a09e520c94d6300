"""The one task: run a request through the worker's policy stack and return the outcome as JSON.

Kept thin on purpose: Celery concerns (names, delivery info) here, the work in
``runtime`` so it can be tested without a broker.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from .config import TASK_NAME, priority_for_level
from .runtime import get_runtime

__all__ = ["register"]


def register(app: Celery) -> None:
    @app.task(name=TASK_NAME, bind=True)
    def complete(self: Any, message: dict[str, Any]) -> dict[str, Any]:
        delivery = self.request.delivery_info or {}
        priority = priority_for_level(delivery.get("priority"))
        return get_runtime(app.conf.broker_url).execute(message, priority=priority,
                                                        task_id=self.request.id)
