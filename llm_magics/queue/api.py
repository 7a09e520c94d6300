"""``map`` / ``amap`` on the queue: ``llm_magics.map(..., mode="queue")`` by another name.

Same arguments and results as ``llm_magics.map``; the calls run on Celery
workers instead of this process's event loop, so the notebook needs no API key
(only the workers hold one) and a fan-out can use many machines.

    >>> from llm_magics import queue
    >>> queue.map([f"Define {w}" for w in words], model="gpt-4o-mini", rpm=500)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.calls import amap as core_amap
from ..core.loop_thread import sync_twin
from ..core.requestset import Outcome
from ..core.types import Messages

__all__ = ["map", "amap"]


async def amap(prompts: Iterable[str | Messages], **options: Any) -> list[Outcome]:
    """Completions on the queue's workers, in input order; a failed prompt is an error value.

    Every keyword of ``llm_magics.amap`` applies; Ctrl-C / kernel interrupt
    revokes what has not started.
    """
    return await core_amap(prompts, mode="queue", **options)


map = sync_twin(amap, name="map")  # noqa: A001 - mirrors llm_magics.map on purpose
