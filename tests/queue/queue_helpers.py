"""Helpers the queue tests share: prompts unique to a test, the submitter's settings, timings."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from llm_magics.core.settings import Settings, resolve
from llm_magics.core.types import Request
from llm_magics.queue import QueueConfig

MODEL = "sim-small"
WORKER_KEY = "sk-worker-only-4f1c9e"  # the simulator requires it; only workers hold it

# Short timeouts so redelivery and "no worker" show within seconds.
FAST = QueueConfig(visibility_timeout_s=6.0, restore_interval_s=1.0, poll_interval_s=0.05,
                   stall_check_s=3.0, ping_timeout_s=1.0)


def tag() -> str:
    """A prefix making this test's prompts unique, so no other test's cache answers them."""
    return uuid.uuid4().hex[:8]


def requests(n: int, base_url: str, *, label: str = "", priority: str = "bulk",
             params: dict[str, Any] | None = None) -> list[Request]:
    label = label or tag()
    return [Request([{"role": "user", "content": f"{label} row {i}"}], MODEL, base_url,
                    dict(params or {}), priority) for i in range(n)]  # type: ignore[arg-type]


def submitter(redis_url: str, base_url: str, **more: Any) -> Settings:
    """The notebook side: Redis and the base URL, and no API key at all."""
    return resolve(redis_url=redis_url, base_url=base_url, model=MODEL, **more)


def worker_env(base_url: str, cache_path: Path) -> dict[str, str]:
    """A worker's whole configuration: where calls go, the only copy of the key, its cache."""
    return {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": WORKER_KEY,
            "LLM_MAGICS_CACHE_PATH": str(cache_path)}


def body(request: Request) -> dict[str, Any]:
    return {"model": request.model, "messages": request.messages, **request.params}
