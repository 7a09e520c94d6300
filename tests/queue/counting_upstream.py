"""An OpenAI-compatible chat server that is not our simulator, counting what it is paid for.

Answers ``echo: <last user message>`` after ``latency_s`` and records, per prompt,
when each request arrived and when its answer was handed to the socket: a
prompt that arrives twice was paid twice. Runs on its own event loop in a
thread (aiohttp), so the test process can watch it while workers call it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import defaultdict
from typing import Any

from aiohttp import web


def echo(prompt: str) -> str:
    return f"echo: {prompt}"


class CountingUpstream:
    def __init__(self, api_key: str, *, latency_s: float = 0.05) -> None:
        self.api_key = api_key
        self.latency_s = latency_s
        self.arrived: dict[str, list[float]] = defaultdict(list)
        self.answered: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def requests(self) -> int:
        with self._lock:
            return sum(len(times) for times in self.arrived.values())

    async def _chat(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body: dict[str, Any] = await request.json()
        prompt = body["messages"][-1]["content"]
        with self._lock:
            self.arrived[prompt].append(time.monotonic())
        await asyncio.sleep(self.latency_s)
        with self._lock:
            self.answered[prompt].append(time.monotonic())
        return web.json_response({
            "id": "chatcmpl-counting", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": echo(prompt)}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
        })

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    def __enter__(self) -> CountingUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._sock.close()
