"""Helpers every benchmark shares: prompts, CPU/wall timing, medians and the bare baseline.

Kept free of llm-magics and LiteLLM imports: worker processes import this
module, and a bare-loop worker must not pay for (or be measured with) either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import openai

MODEL = "sim-small"
"""A model every simulator serves."""


@dataclass
class Timing:
    wall_s: float
    cpu_s: float
    result: Any = None

    def per_1000_cpu(self, n: int) -> float:
        return self.cpu_s / n * 1000


def cpu_s() -> float:
    """CPU seconds of this process, all threads (the llm-magics loop runs in its own)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak resident set of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> Timing:
    cpu0, wall0 = cpu_s(), time.perf_counter()
    result = fn()
    return Timing(time.perf_counter() - wall0, cpu_s() - cpu0, result)


def prompts(n: int, tag: str) -> list[str]:
    """Distinct prompts: the tag keeps rounds and contenders from sharing cache entries."""
    return [f"Define the word number {i} ({tag})" for i in range(n)]


def median(values: Iterable[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


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


def run_from_command_line(run: Callable[..., Any], doc: str, **defaults: float) -> None:
    """``--name value`` for each of ``defaults`` (typed by its default), then print
    ``run(**values)`` as JSON: the command line of a one-file benchmark."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    print(json.dumps(run(**vars(parser.parse_args())), indent=2))
