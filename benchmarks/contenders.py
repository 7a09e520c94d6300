"""The contenders: llm-magics and the code people write instead, run on identical prompts.

Each contender is a coroutine ``(base_url, prompts, concurrency, **options)``
returning one outcome per prompt: the answer text, or the exception that
ended it. They run inside a worker process (``benchmarks.worker``), one
contender per process, so no library's imports, threads or pools leak into
another's CPU or memory figures. Imports are lazy for the same reason: the
bare loop's process never loads llm-magics or LiteLLM.

The alternatives are written the way their docs show them, with their own
defaults unless an option says otherwise:

- ``bare``: ``AsyncOpenAI`` + ``asyncio.Semaphore`` + ``asyncio.gather``, ``max_retries=0``.
- ``bare+retries``: the same with the SDK's retries (default 2; ``max_retries`` option).
- ``bare-aiohttp``: ``bare`` on ``openai.DefaultAioHttpClient`` instead of httpx.
- ``litellm``: ``litellm.acompletion(model="openai/...", api_base=...)`` under the same
  semaphore; LiteLLM's own retry default.
- ``litellm-router``: ``litellm.Router`` with ``rpm``/``tpm`` on the deployment when given.
- ``ours`` / ``ours-httpx``: ``llm_magics.amap`` with its defaults (cache on, aiohttp).
- ``ours-sdk``: ``ours`` sending through the OpenAI SDK (``request_path="sdk"``), the
  reference the lean request path is measured against.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from .common import MODEL

__all__ = ["CONTENDERS", "LABELS", "run_contender", "preload", "Outcome"]

Outcome = Any  # answer text, or the exception that ended the prompt

API_KEY = "sk-bench"

LABELS = {
    "bare": "bare AsyncOpenAI + Semaphore + gather (max_retries=0, httpx)",
    "bare-aiohttp": "bare loop on DefaultAioHttpClient (max_retries=0)",
    "bare+retries": "bare loop + SDK retries (max_retries=2)",
    "litellm": "litellm.acompletion + Semaphore + gather",
    "litellm-router": "litellm.Router + Semaphore + gather",
    "ours": "llm-magics map() (aiohttp, defaults)",
    "ours-httpx": "llm-magics map(transport='httpx')",
    "ours-sdk": "llm-magics map(request_path='sdk'), the SDK path (aiohttp)",
}


async def _gather(prompts: list[str], concurrency: int,
                  call: Callable[[str], Awaitable[str]]) -> list[Outcome]:
    """The semaphore + gather pattern every alternative shares; errors become values."""
    sem = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> Outcome:
        async with sem:
            try:
                return await call(prompt)
            except Exception as err:  # noqa: BLE001 - a failed prompt is a result here
                return err

    return await asyncio.gather(*(one(p) for p in prompts))


def _messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


async def bare(base_url: str, prompts: list[str], concurrency: int, *,
               max_retries: int = 0, transport: str = "httpx", **_: Any) -> list[Outcome]:
    import openai

    http_client = openai.DefaultAioHttpClient() if transport == "aiohttp" else None
    client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=max_retries,
                                http_client=http_client)

    async def call(prompt: str) -> str:
        r = await client.chat.completions.create(model=MODEL, messages=_messages(prompt))
        return r.choices[0].message.content or ""

    try:
        return await _gather(prompts, concurrency, call)
    finally:
        await client.close()


def _quiet_litellm() -> Any:
    """Import LiteLLM with its cost map read locally (it would fetch it) and telemetry off."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


async def litellm_acompletion(base_url: str, prompts: list[str], concurrency: int, *,
                              num_retries: int | None = None, **_: Any) -> list[Outcome]:
    litellm = _quiet_litellm()
    extra = {} if num_retries is None else {"num_retries": num_retries}

    async def call(prompt: str) -> str:
        r = await litellm.acompletion(model=f"openai/{MODEL}", api_base=base_url,
                                      api_key=API_KEY, messages=_messages(prompt), **extra)
        return r.choices[0].message.content or ""

    return await _gather(prompts, concurrency, call)


async def litellm_router(base_url: str, prompts: list[str], concurrency: int, *,
                         rpm: int | None = None, tpm: int | None = None,
                         num_retries: int | None = None,
                         routing_strategy: str | None = None, **_: Any) -> list[Outcome]:
    litellm = _quiet_litellm()
    params: dict[str, Any] = {"model": f"openai/{MODEL}", "api_base": base_url,
                              "api_key": API_KEY}
    if rpm:
        params["rpm"] = rpm
    if tpm:
        params["tpm"] = tpm
    kwargs: dict[str, Any] = {}
    if num_retries is not None:
        kwargs["num_retries"] = num_retries
    if routing_strategy:
        kwargs["routing_strategy"] = routing_strategy
    router = litellm.Router(model_list=[{"model_name": "sim", "litellm_params": params}],
                            **kwargs)

    async def call(prompt: str) -> str:
        r = await router.acompletion(model="sim", messages=_messages(prompt))
        return r.choices[0].message.content or ""

    return await _gather(prompts, concurrency, call)


async def ours(base_url: str, prompts: list[str], concurrency: int, *,
               stats_out: dict[str, Any] | None = None, **settings: Any) -> list[Outcome]:
    """``llm_magics.amap``; ``settings`` are llm-magics settings (transport, rpm, cache...)."""
    import llm_magics

    stats = llm_magics.CallStats()
    use_cache = settings.pop("cache", None)
    model = settings.pop("model", MODEL)
    results = await llm_magics.amap(prompts, concurrency=concurrency, model=model,
                                    base_url=base_url, api_key=API_KEY, cache=use_cache,
                                    stats=stats, **settings)
    if stats_out is not None:
        stats_out.update(stats.__dict__)
    return [r.text if isinstance(r, llm_magics.Response) else r for r in results]


CONTENDERS: dict[str, tuple[Callable[..., Awaitable[list[Outcome]]], dict[str, Any]]] = {
    "bare": (bare, {}),
    "bare-aiohttp": (bare, {"transport": "aiohttp"}),
    "bare+retries": (bare, {"max_retries": 2}),
    "litellm": (litellm_acompletion, {}),
    "litellm-router": (litellm_router, {}),
    "ours": (ours, {}),
    "ours-httpx": (ours, {"transport": "httpx"}),
    "ours-sdk": (ours, {"request_path": "sdk"}),
}


def preload(name: str) -> None:
    """Import the libraries contender ``name`` uses (outside any timing)."""
    import openai  # noqa: F401 - every contender sits on the SDK

    if name.startswith("litellm"):
        _quiet_litellm()
    elif name.startswith("ours"):
        import llm_magics  # noqa: F401


async def run_contender(name: str, base_url: str, prompts: list[str], concurrency: int,
                        options: dict[str, Any] | None = None,
                        stats_out: dict[str, Any] | None = None) -> list[Outcome]:
    """Run contender ``name``; ``options`` override its defaults (rpm, max_retries...)."""
    fn, defaults = CONTENDERS[name]
    kwargs = {**defaults, **(options or {})}
    if fn is ours:
        kwargs["stats_out"] = stats_out
    return await fn(base_url, prompts, concurrency, **kwargs)
