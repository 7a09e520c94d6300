"""The gateway's ASGI app: client auth, counting, the upload cap, and the routes.

Auth and counting live in ``GatewayApp.__call__`` rather than in middleware:
it sees every request exactly once, with its final status, and costs one
function call per request. ``/healthz`` is always open (a load balancer's
probe has no key); ``/metrics`` and ``/v1/*`` need a client key when keys are
configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from ...core.client import close_clients
from ...core.policy.cache import get_cache
from ..batch_api import build_router
from ..error_handlers import install_error_handlers
from ..openai_shapes import dumps, error_response
from ..upload_limit import limit_upload
from . import chat
from .config import GatewayConfig
from .metrics import prometheus_text, snapshot
from .state import GatewayState, build_state, gateway_state
from .upstream import Upstream

__all__ = ["GatewayApp", "create_app"]

log = logging.getLogger("llm_magics.gateway")

OPEN_PATHS = frozenset({"/healthz"})
FILES_PATH = "/v1/files"


class GatewayApp(FastAPI):
    """FastAPI plus the outer layer that authenticates and counts every request."""

    gateway: GatewayState

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await super().__call__(scope, receive, send)
            return
        gw = self.gateway
        traffic = gw.traffic
        traffic.requests += 1
        traffic.in_flight += 1

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                traffic.record(message["status"])
            await send(message)

        try:
            refusal = gw.keys.check(scope)
            if refusal is not None:
                await error_response(refusal)(scope, receive, counting_send)
            elif scope["method"] == "POST" and scope["path"] == FILES_PATH:
                await limit_upload(super().__call__, scope, receive, counting_send,
                                   gw.config.max_file_bytes)
            else:
                await super().__call__(scope, receive, counting_send)
        finally:
            traffic.in_flight -= 1


def create_app(config: GatewayConfig, upstream: Upstream) -> GatewayApp:
    """A gateway for ``upstream``; its state opens now, its batches resume when it starts."""
    gw = build_state(config, upstream)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        resumed = gw.batches.resume()
        if resumed:
            log.warning("resumed %d unfinished batch(es) from %s", resumed, gw.store.path)
        try:
            yield
        finally:
            await gw.batches.close()
            with contextlib.suppress(Exception):
                if config.cache:
                    get_cache(gw.settings.cache_path).flush()
                await asyncio.wait_for(close_clients(), 5)

    app = GatewayApp(
        title="llm-magics gateway",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.gateway = gw
    app.state.gateway = gw
    app.include_router(chat.router)
    app.include_router(build_router(lambda request: gateway_state(request).batches))
    install_error_handlers(app)

    @app.get("/healthz")
    async def healthz() -> Response:
        data = {"status": "ok", "batches_in_progress": gw.batches.running,
                "upstream_local": upstream.local}
        return Response(dumps(data), media_type="application/json")

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        data = snapshot(gateway_state(request))
        wants_text = request.query_params.get("format") == "prometheus" or (
            "text/plain" in request.headers.get("accept", "")
        )
        if wants_text:
            return PlainTextResponse(prometheus_text(data),
                                     media_type="text/plain; version=0.0.4")
        return Response(dumps(data), media_type="application/json")

    return app
