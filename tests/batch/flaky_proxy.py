"""A real HTTP proxy in front of the simulator that fails chosen calls with 5xx first.

The simulator injects faults into chat calls only; the Batch API's own calls
(upload, create, poll, download) must survive a 502 too. Rather than patch
the client, this puts a server in the way: each rule ``(method, path prefix)
-> n`` answers the first ``n`` matching requests with 503 and forwards the
rest unchanged; ``-> (skip, n)`` lets ``skip`` through first. ``delays`` hold
matching requests for some seconds before forwarding them.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from fastapi import FastAPI, Request
from starlette.responses import Response

from tests.support.threaded import ThreadedServer


class FlakyProxy(ThreadedServer):
    def __init__(self, target: str, rules: dict[tuple[str, str], int | tuple[int, int]],
                 delays: dict[tuple[str, str], float] | None = None) -> None:
        self.target = target.rstrip("/")
        self.rules = {k: v if isinstance(v, tuple) else (0, v) for k, v in rules.items()}
        self.delays = dict(delays or {})
        self.seen: Counter[tuple[str, str]] = Counter()
        self.failed: Counter[tuple[str, str]] = Counter()
        self.forwarded = 0
        app = FastAPI()
        app.add_api_route("/{path:path}", self._handle,
                          methods=["GET", "POST", "DELETE"])
        super().__init__(app, name="flaky-proxy")

    async def _handle(self, path: str, request: Request) -> Response:
        def match(rule: tuple[str, str]) -> bool:
            return request.method == rule[0] and ("/" + path).startswith(rule[1])

        for rule, seconds in self.delays.items():
            if match(rule):
                await asyncio.sleep(seconds)
        key = next((rule for rule in self.rules if match(rule)), None)
        if key is not None:
            self.seen[key] += 1
            skip, fail = self.rules[key]
            if skip < self.seen[key] <= skip + fail:
                self.failed[key] += 1
                return Response(
                    b'{"error": {"message": "proxy says no", "type": "server_error"}}',
                    status_code=503, media_type="application/json")
        self.forwarded += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with httpx.AsyncClient() as client:
            upstream = await client.request(request.method, f"{self.target}/{path}",
                                             params=request.query_params, headers=headers,
                                             content=await request.body())
        drop = {"content-length", "content-encoding", "transfer-encoding", "connection"}
        return Response(upstream.content, status_code=upstream.status_code,
                        headers={k: v for k, v in upstream.headers.items()
                                 if k.lower() not in drop})
