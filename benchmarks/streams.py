"""Streaming measurements that run inside a worker: time to first token, widget updates.

TTFT is timed from the call to the first non-empty text delta, for the bare
SDK stream (``create(stream=True)`` on a long-lived client) and for ours
(``astream``: through the core's loop thread and back). The simulator adds no
latency in this scenario, so the difference is the client's own cost.

Widget updates are counted where they leave Python: every comm message the
``StreamView`` widgets send (a counting comm stands in for the kernel's), and
every ``show`` call (one redraw of text + footer).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

from .common import MODEL

__all__ = ["measure_ttft", "measure_stream_view"]

API_KEY = "sk-bench"

_clients: dict[tuple[str, str], Any] = {}
_loop: asyncio.AbstractEventLoop | None = None


def _bare_client(base_url: str, transport: str) -> Any:
    """One long-lived client per transport, as an application would keep it."""
    import openai

    key = (base_url, transport)
    if key not in _clients:
        http_client = openai.DefaultAioHttpClient() if transport == "aiohttp" else None
        _clients[key] = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0,
                                           http_client=http_client)
    return _clients[key]


async def _bare_ttft(base_url: str, prompt: str, transport: str) -> dict[str, Any]:
    client = _bare_client(base_url, transport)
    started = time.perf_counter()
    ttft = None
    tokens = 0
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            tokens += 1
            if ttft is None:
                ttft = time.perf_counter() - started
    return {"ttft_s": ttft, "total_s": time.perf_counter() - started, "tokens": tokens}


async def _ours_ttft(base_url: str, prompt: str, transport: str,
                    request_path: str = "lean") -> dict[str, Any]:
    import llm_magics

    started = time.perf_counter()
    ttft = None
    tokens = 0
    async for _delta in llm_magics.astream(prompt, model=MODEL, base_url=base_url,
                                           api_key=API_KEY, cache=False, transport=transport,
                                           request_path=request_path):
        tokens += 1
        if ttft is None:
            ttft = time.perf_counter() - started
    return {"ttft_s": ttft, "total_s": time.perf_counter() - started, "tokens": tokens}


_KINDS: dict[str, tuple[Any, dict[str, str]]] = {
    "bare": (_bare_ttft, {"transport": "httpx"}),
    "bare-aiohttp": (_bare_ttft, {"transport": "aiohttp"}),
    "ours": (_ours_ttft, {"transport": "aiohttp"}),
    "ours-httpx": (_ours_ttft, {"transport": "httpx"}),
    "ours-sdk": (_ours_ttft, {"transport": "aiohttp", "request_path": "sdk"}),
}


async def _run(kind: str, base_url: str, prompt: str) -> dict[str, Any]:
    fn, options = _KINDS[kind]
    return await fn(base_url, prompt, **options)


def measure_ttft(kind: str, base_url: str, prompt: str) -> dict[str, Any]:
    """One stream; a persistent loop keeps the bare client's pool warm between calls."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(_run(kind, base_url, prompt))


def _counting_comms() -> collections.Counter[str]:
    """Replace the comm factory so every message a widget sends is counted, not dropped."""
    import comm
    from comm import DummyComm

    sent: collections.Counter[str] = collections.Counter()

    class CountingComm(DummyComm):
        def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                        buffers: Any = None, **keys: Any) -> None:
            method = data.get("method") if isinstance(data, dict) else None
            sent[f"{msg_type}:{method}" if method else msg_type] += 1

    comm.create_comm = lambda *args, **kwargs: CountingComm(*args, **kwargs)
    return sent


def measure_stream_view(base_url: str, prompt: str) -> dict[str, Any]:
    """A ``StreamRun`` drawn into a ``StreamView``, as ``%%llm_stream`` wires them."""
    sent = _counting_comms()
    from llm_magics.jupyter.stream_view import StreamView
    from llm_magics.jupyter.streaming import StreamRun

    view = StreamView(fmt="markdown")
    value_changes = 0

    def on_value(_change: Any) -> None:
        nonlocal value_changes
        value_changes += 1

    view.observe(on_value, names="value")
    before = sum(sent.values())
    options = {"model": MODEL, "base_url": base_url, "api_key": API_KEY}
    run = StreamRun([{"role": "user", "content": prompt}], options, use_cache=False,
                    on_update=lambda r: view.show(r.text, r.live_stats()))
    run.start()
    run.wait(120)
    if run.error is not None:
        raise RuntimeError(f"stream failed: {run.error}")
    streaming_s = (run.ended_at or 0.0) - (run.first_token_at or 0.0)
    messages = sum(sent.values()) - before
    tokens = len(run.parts)
    return {
        "tokens": tokens,
        "streaming_s": streaming_s,
        "tokens_per_s": tokens / streaming_s if streaming_s else float("nan"),
        "show_calls": run.updates,
        "value_changes": value_changes,
        "comm_messages": messages,
        "updates_per_s": run.updates / streaming_s if streaming_s else float("nan"),
        "comm_messages_per_s": messages / streaming_s if streaming_s else float("nan"),
        "text_complete": run.response is not None and run.response.text == run.text,
    }
