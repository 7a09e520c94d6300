"""The gateway's ASGI app: admission, client auth, counting, body limits, and the routes.

Every request passes, in order: the ``Host``/``Origin``/content-type rules
(403/415, also for ``/healthz``), then the client key, which names the
caller's tenant (401), then that key's share of requests in flight (429),
then the body cap and read timeouts (413/408), all before a route runs or
anything is sent upstream. This lives in
``GatewayApp.__call__`` rather than in middleware: it sees every request
exactly once, with its final status, and costs a few function calls.
``/healthz`` needs no key (a load balancer's probe has none); ``/metrics``
takes a client key or the metrics key when either is configured. Chat
completions, the hot route, skip FastAPI's routing and middleware layers
(a quarter of a millisecond of the time to first token); its errors go to the
same OpenAI-shaped handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from ...core.policy.cache import get_cache
from ...core.wire import close_connections
from ..openai_app import openai_app
from ..openai_shapes import ErrorReply, dumps, error_response
from ..upload_limit import limit_upload
from . import chat, history
from .admission import JSON_ROUTES, Admission, refuse_open_exposure
from .body import BodyGone, read_body, replay
from .config import GatewayConfig
from .metrics import prometheus_text, snapshot
from .state import GatewayState, build_state, client_keys, gateway_state
from .tenants import TENANT_KEY, tenant_of
from .upstream import Upstream

__all__ = ["GatewayApp", "create_app"]

log = logging.getLogger("llm_magics.gateway")

OPEN_PATHS = frozenset({"/healthz"})
CHAT_PATH = "/v1/chat/completions"
FILES_PATH = "/v1/files"
METRICS_PATH = "/metrics"


class GatewayApp(FastAPI):
    """FastAPI plus the outer layer that admits, authenticates and counts every request."""

    gateway: GatewayState

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        gw = self.gateway
        refusal = gw.admission.check(scope)
        if refusal is None:
            preflight = gw.admission.preflight(scope)
            if preflight is not None:
                await preflight(scope, receive, send)
                return
            if scope["path"] in OPEN_PATHS:
                await super().__call__(scope, receive, send)
                return
        cors = gw.admission.cors_headers(scope) if refusal is None else []
        traffic = gw.traffic
        traffic.requests += 1
        traffic.in_flight += 1

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                traffic.record(message["status"])
                if cors:
                    message = {**message, "headers": [*message.get("headers", ()), *cors]}
            await send(message)

        sharing: str | None = None
        try:
            if refusal is None:
                who = gw.keys.identify(scope, metrics=scope["path"] == METRICS_PATH)
                if isinstance(who, ErrorReply):
                    refusal = who
                else:
                    scope[TENANT_KEY] = who
                    refusal = gw.share.enter(who.id)
                    sharing = who.id if refusal is None else None
            if refusal is not None:
                await error_response(refusal)(scope, receive, counting_send)
            else:
                await self._route(scope, receive, counting_send)
        finally:
            traffic.in_flight -= 1
            if sharing is not None:
                gw.share.leave(sharing)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The routes, with the body read first under the JSON or the upload limits."""
        config = self.gateway.config
        if scope["method"] != "POST":
            await super().__call__(scope, receive, send)
        elif scope["path"] == FILES_PATH:
            await limit_upload(super().__call__, scope, receive, send, config.max_file_bytes,
                               config.body_timeout_s)
        elif scope["path"] in JSON_ROUTES:
            try:
                body = await read_body(scope, receive, config.max_body_bytes,
                                       config.body_timeout_s)
            except BodyGone:
                return
            except ErrorReply as err:
                await error_response(err)(scope, receive, send)
                return
            if scope["path"] == CHAT_PATH:
                await self._direct(chat.chat_completions, body, scope, receive, send)
            else:
                await super().__call__(scope, replay(body, receive), send)
        else:
            await super().__call__(scope, receive, send)

    async def _direct(self, endpoint: Callable[[Request, bytes], Awaitable[Response]],
                      body: bytes, scope: Scope, receive: Receive, send: Send) -> None:
        """``endpoint`` with the body already read, without FastAPI's routing, dependency and
        middleware layers (a quarter of a millisecond per request); its errors go to the same
        handlers."""
        scope["app"] = self
        request = Request(scope, replay(body, receive))
        try:
            response = await endpoint(request, body)
        except Exception as exc:
            handler = next(self.exception_handlers[kind] for kind in type(exc).__mro__
                           if kind in self.exception_handlers)
            reply = await handler(request, exc)
            await reply(scope, receive, send)
            if not isinstance(exc, (ErrorReply, HTTPException)):
                raise  # a bug: answered with a plain 500, then logged by the server
            return
        await response(scope, receive, send)


def create_app(config: GatewayConfig, upstream: Upstream, *,
               host: str = "127.0.0.1") -> GatewayApp:
    """A gateway for ``upstream`` served on ``host``; its state opens now, its batches resume
    when it starts. Raises ``ConfigurationError`` for a keyless gateway on a public address."""
    keys = client_keys(config)
    refuse_open_exposure(host, keys.enabled, config.allow_remote_keyless)
    admission = Admission(host, config.allowed_hosts, config.cors_origins)
    gw = build_state(config, upstream, keys, admission)

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
                    for path in gw.caches.paths():
                        get_cache(path).flush()
                await asyncio.wait_for(close_connections(), 5)

    app = openai_app(
        GatewayApp, "llm-magics gateway", lifespan, chat.router,
        lambda request: gateway_state(request).batches.for_tenant(tenant_of(request.scope).id))
    app.gateway = gw
    app.state.gateway = gw
    app.include_router(history.router)

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
