"""The Celery app: Redis broker and result backend, set up so priorities and redelivery are real.

Celery's defaults on Redis give neither: priorities are round-robin unless
``queue_order_strategy="priority"``, a task is acknowledged when it starts (so
a killed worker loses it) unless ``task_acks_late``, and each worker grabs
four tasks per slot, which a high-priority task then waits behind. Here:

- ``priority_steps=0..9``, ``queue_order_strategy="priority"``: one Redis list per
  level, popped in order, **0 first** (see ``config.PRIORITY_LEVELS``).
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task stays in Redis's
  unacked set until it has finished, so a dead worker's tasks are redelivered
  after ``visibility_timeout`` (see ``config``), and
  ``worker_deduplicate_successful_tasks`` skips a redelivered task whose result
  is already stored.
- ``worker_prefetch_multiplier=1``: a worker holds only as many tasks as it runs.
- JSON only, both ways: no pickle from the broker.
"""

from __future__ import annotations

import threading

from celery import Celery
from celery.backends.redis import RedisBackend

from .config import PRIORITY_LEVELS, QUEUE_NAME, QueueConfig

__all__ = ["make_app", "get_app", "PollingRedisBackend"]


class PollingRedisBackend(RedisBackend):
    """The Redis result backend without a SUBSCRIBE per sent task.

    The stock backend subscribes to every task's channel when it is sent; the
    submitter here reads results by polling ``MGET`` instead (``submit``), so
    those subscriptions would only fill a buffer nobody drains.
    """

    def on_task_call(self, producer: object, task_id: str) -> None:
        return None


def make_app(redis_url: str, config: QueueConfig | None = None) -> Celery:
    """A new app on ``redis_url`` (broker and result backend), with our task registered."""
    from .tasks import register

    config = config or QueueConfig.from_env()
    app = Celery(
        "llm_magics",
        broker=redis_url,
        backend=f"{__name__}:PollingRedisBackend+{redis_url}",
        set_as_current=False,
    )
    app.conf.update(
        broker_transport_options={
            "queue_order_strategy": "priority",
            "priority_steps": list(range(10)),
            "visibility_timeout": config.visibility_timeout_s,
            "unacked_restore_interval": config.restore_interval_s,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": config.connect_timeout_s,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=config.connect_timeout_s,
        redis_socket_connect_timeout=config.connect_timeout_s,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2,
                                   "interval_step": 0.5, "interval_max": 1.0},
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_deduplicate_successful_tasks=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_default_queue=QUEUE_NAME,
        task_default_priority=PRIORITY_LEVELS["bulk"],
        result_expires=int(config.result_expires_s),
        worker_hijack_root_logger=False,
    )
    register(app)
    return app


_apps: dict[tuple[str, QueueConfig], Celery] = {}
_lock = threading.Lock()


def get_app(redis_url: str, config: QueueConfig | None = None) -> Celery:
    """The process's app for this URL and config (Celery apps hold connection pools)."""
    config = config or QueueConfig.from_env()
    with _lock:
        app = _apps.get((redis_url, config))
        if app is None:
            app = _apps[(redis_url, config)] = make_app(redis_url, config)
        return app
