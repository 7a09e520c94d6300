"""Fast, clear failures: Redis down or no worker running is an error in seconds, not a hang.

Celery would otherwise retry a publish to a dead broker for a long time, and
tasks sent with no worker would sit in Redis while the notebook waits forever.
URLs are shown with any password masked.
"""

from __future__ import annotations

from typing import Any

import redis

from ..core.secrets import mask_url
from .errors import BrokerUnavailableError, NoWorkerError

__all__ = ["mask_url", "check_broker", "check_workers", "workers_alive"]


def check_broker(redis_url: str, timeout_s: float = 2.0) -> None:
    """Raise ``BrokerUnavailableError`` unless Redis answers PING within ``timeout_s``."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=timeout_s,
                                  socket_timeout=timeout_s)
    try:
        client.ping()
    except (redis.RedisError, OSError, ValueError) as err:
        raise BrokerUnavailableError(
            f"Cannot reach Redis at {mask_url(redis_url)} ({type(err).__name__}: "
            f"{_short(err, redis_url)}). Start it with `redis-server` (or "
            "`docker run -p 6379:6379 redis`), or point llm-magics at yours with "
            "llm_magics.configure(redis_url=...) or LLM_MAGICS_REDIS_URL."
        ) from None
    finally:
        client.close()


def workers_alive(app: Any, timeout_s: float = 2.0) -> list[str]:
    """Names of workers answering a ping (returns at the first answer, or after the timeout)."""
    replies = app.control.ping(timeout=timeout_s, limit=1) or []
    return [name for reply in replies for name in reply]


def check_workers(app: Any, timeout_s: float = 2.0) -> list[str]:
    """Raise ``NoWorkerError`` unless at least one worker answers within ``timeout_s``."""
    names = workers_alive(app, timeout_s)
    if not names:
        raise NoWorkerError(
            f"No llm-magics worker answered within {timeout_s:g}s on "
            f"{mask_url(app.conf.broker_url)}: start one with: llm-magics worker "
            "(it reads OPENAI_API_KEY / OPENAI_BASE_URL and LLM_MAGICS_REDIS_URL from its "
            "own environment)."
        )
    return names


def _short(err: BaseException, redis_url: str) -> str:
    text = str(err).replace(redis_url, mask_url(redis_url))
    return text[:160]
