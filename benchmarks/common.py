"""Helpers every benchmark shares: the bare-SDK baseline and CPU/wall timing."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai


@dataclass
class Timing:
    wall_s: float
    cpu_s: float
    result: Any = None

    def per_1000_cpu(self, n: int) -> float:
        return self.cpu_s / n * 1000


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], Any]) -> Timing:
    cpu0, wall0 = _cpu(), time.perf_counter()
    result = fn()
    return Timing(time.perf_counter() - wall0, _cpu() - cpu0, result)


async def bare_gather(base_url: str, prompts: list[str], concurrency: int, *, model: str,
                      max_retries: int = 0, http_client: Any = None) -> list[Any]:
    """The usual hand-written pattern: AsyncOpenAI + Semaphore + gather."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=max_retries,
                                http_client=http_client)
    sem = asyncio.Semaphore(concurrency)

    async def one(p: str) -> Any:
        async with sem:
            try:
                r = await client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": p}])
                return r.choices[0].message.content
            except openai.OpenAIError as err:
                return err

    try:
        return await asyncio.gather(*(one(p) for p in prompts))
    finally:
        await client.close()
