"""The simulator's ASGI app: routers, OpenAI-shaped errors, auth, counters and ``/_sim`` control.

``/_sim/*`` sits outside ``/v1`` on purpose: a client under test pointed at
``base_url=.../v1`` can never reach the control plane by accident, and the
control calls are not counted as traffic. When the simulator has a key, the
control routes need it too (all but ``/_sim/health``): otherwise anyone could
switch the key off, or read the switches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ..auth import BearerKeys
from ..chat_request import read_json
from ..openai_app import openai_app
from ..openai_shapes import ErrorReply, bad_request, dumps, error_response
from . import chat
from .batch import BatchStore
from .config import SimConfig
from .connection import RAW_SEND_KEY
from .state import SimState

CHAT_PATH = "/v1/chat/completions"
CONTROL_PREFIX = "/_sim/"
OPEN_CONTROL = frozenset({"/_sim/health"})


class SimApp(FastAPI):
    """FastAPI plus a thin outer layer that sees every request exactly once.

    Counting and auth live here rather than in middleware because this is the
    only place that receives uvicorn's own ``send`` (needed to drop a
    connection on purpose) and sees the final status of every response.
    """

    sim: SimState

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            refusal = self._control_refusal(scope)
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
            await super().__call__(scope, receive, send)
            return
        scope[RAW_SEND_KEY] = send
        state = self.sim
        stats = state.stats
        stats.requests += 1
        is_chat = scope["path"] == CHAT_PATH

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not scope.get(chat.DROPPED_KEY):
                status = message["status"]
                if status != 499:  # 499: client left before the answer; nothing was sent
                    stats.record_status(status)
                    if is_chat and status == 200:
                        stats.chat_ok += 1
            await send(message)

        key = state.config.api_key
        if key is not None:
            refusal = BearerKeys([key]).check(scope)
            if refusal is not None:
                await error_response(refusal)(scope, receive, recording_send)
                return
        await super().__call__(scope, receive, recording_send)


    def _control_refusal(self, scope: Scope) -> ErrorReply | None:
        key = self.sim.config.api_key
        path = scope.get("path", "")
        if key is None or not path.startswith(CONTROL_PREFIX) or path in OPEN_CONTROL:
            return None
        return BearerKeys([key]).check(scope)


def _json(obj: Any, status_code: int = 200) -> Response:
    return Response(dumps(obj), status_code=status_code, media_type="application/json")


def create_app(config: SimConfig | None = None) -> SimApp:
    """Build a simulator app with its own state; several can run side by side."""
    state = SimState(config or SimConfig())
    batches = BatchStore(state)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.closing = True
        await batches.close()

    app = openai_app(SimApp, "llm-magics simulator", lifespan, chat.router,
                     lambda request: batches)
    app.sim = state
    app.state.sim = state

    @app.get("/_sim/health")
    async def _health() -> Response:
        return _json({"ok": True})

    @app.get("/_sim/stats")
    async def _stats(times: bool = True) -> Response:
        return _json(state.stats.snapshot(include_times=times))

    @app.get("/_sim/config")
    async def _get_config() -> Response:
        return _json(state.config.as_dict())

    @app.post("/_sim/config")
    async def _set_config(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("Expected a JSON object of switches.")
        try:
            new = state.configure(**body)
        except (TypeError, ValueError) as exc:
            raise bad_request(str(exc)) from None
        return _json(new.as_dict())

    @app.post("/_sim/reset")
    async def _reset(scope: str = "run") -> Response:
        """``?scope=stats|run|all``: counters; + limits and dice (default); + switches."""
        try:
            state.reset(scope)
        except ValueError as exc:
            raise bad_request(str(exc), param="scope") from None
        return _json(state.stats.snapshot(include_times=False))

    return app
