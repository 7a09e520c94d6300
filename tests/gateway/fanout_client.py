"""A client process for the shared-limit test: fan out N requests to a gateway, print JSON.

Run as ``python fanout_client.py BASE_URL N TAG CONCURRENCY``. Retries are off,
so any 429 or error the gateway answered shows up in the counts.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from openai import AsyncOpenAI, OpenAIError


async def fan_out(base_url: str, n: int, tag: str, concurrency: int) -> dict[str, object]:
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []
    async with AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=300) as client:

        async def one(i: int) -> None:
            async with gate:
                try:
                    await client.chat.completions.create(
                        model="sim-small", max_tokens=4,
                        messages=[{"role": "user", "content": f"{tag} request {i}"}])
                except OpenAIError as err:
                    errors.append(type(err).__name__)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return {"ok": n - len(errors), "errors": errors,
                "elapsed_s": time.perf_counter() - started}


if __name__ == "__main__":
    url, count, name, width = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    print(json.dumps(asyncio.run(fan_out(url, count, name, width))))
