"""``/v1/models`` (proxied) and ``/v1/chat/completions`` (JSON and SSE) through the policy stack.

Checks run in OpenAI's order, all before any upstream budget is spent: JSON
body (400), fields against the strict model (400), model (404), the caller's
own per-key RPM/TPM (429), then the engine: the tenant's cache, breaker,
RPM/TPM limiter in priority order (``X-LLM-Priority``, at most the key's
``max_priority``), retries, upstream.
A client's mistake therefore ends as its own 4xx and never reaches the
shared breaker. ``chat_completions`` is not on the router: the app calls it
directly (see ``GatewayApp._direct``), past FastAPI's per-request layers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ... import errors
from ...core.history.context import tag
from ..chat_request import parse_json
from ..disconnect import ClientGone, unless_disconnected
from ..event_stream import EventStream
from ..openai_shapes import dumps, model_not_found
from .chat_model import validate_gateway_chat
from .relay import (
    check_streamable,
    completion_body,
    priority_of,
    to_core_request,
    to_openai_error,
)
from .sse import SSE_HEADERS, UpstreamStream, sse_frames
from .state import GatewayState, gateway_state
from .tenants import key_id, tenant_of

__all__ = ["router"]

router = APIRouter()

CLIENT_GONE = 499
"""nginx's "client closed request": nothing is sent, but metrics see why the request ended."""


def _json(obj: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj), media_type="application/json", headers=headers)


async def _listing(gw: GatewayState) -> dict[str, Any]:
    try:
        return await gw.catalog.listing()
    except errors.LLMError as err:
        raise to_openai_error(err, gw.upstream) from None


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    return _json(await _listing(gateway_state(request)))


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> Response:
    gw = gateway_state(request)
    for model in (await _listing(gw)).get("data") or []:
        if isinstance(model, dict) and model.get("id") == model_id:
            return _json(model)
    raise model_not_found(model_id)


async def chat_completions(request: Request, raw: bytes) -> Response:
    """``raw``: the body, read by the app under its size and time limits."""
    gw = gateway_state(request)
    body = parse_json(raw)
    req = validate_gateway_chat(body)
    if req.stream:
        check_streamable(body)
    model = await gw.catalog.resolve(req.model)
    tenant = tenant_of(request.scope)
    priority = tenant.capped(priority_of(request.headers, gw.config.default_priority))
    core_request = to_core_request(body, model, gw.upstream, priority)
    endpoint = gw.upstream.endpoint(model)
    refusal = gw.limits.admit(tenant, core_request.estimated_tokens)
    if refusal is not None:
        raise refusal
    settings = gw.caches.settings_for(tenant.id)
    tag(face="gateway", client=key_id(tenant.id))  # this request's calls, in the call log

    if not req.stream:
        work = gw.engine.complete(core_request, endpoint, settings, use_cache=gw.use_cache)
        try:
            response = await unless_disconnected(request.receive, work)
        except ClientGone:
            return Response(status_code=CLIENT_GONE)
        except errors.LLMError as err:
            raise to_openai_error(err, gw.upstream) from None
        # Only for a shared cache (the operator's choice): it says whether anyone asked this.
        shown = gw.config.share_cache and gw.use_cache
        return _json(completion_body(response),
                     headers={"x-llm-cache": "hit" if response.cached else "miss"}
                     if shown else None)

    stream = UpstreamStream(lambda on_open: gw.engine.stream(
        core_request, endpoint, settings, use_cache=gw.use_cache, on_open=on_open))
    try:
        await unless_disconnected(request.receive, stream.started())
        if stream.first.done():
            stream.first.result()  # an error before the upstream accepted: a proper status
    except BaseException as exc:
        await stream.aclose()
        if isinstance(exc, ClientGone):
            return Response(status_code=CLIENT_GONE)
        if isinstance(exc, errors.LLMError):
            raise to_openai_error(exc, gw.upstream) from None
        raise
    frames = sse_frames(
        stream.items(), model=model, include_usage=req.include_usage,
        on_error=lambda err: to_openai_error(err, gw.upstream).body,
    )
    # The role opener and first delta when they are in hand (no wait), else the head alone.
    head = await frames.__anext__() if stream.first.done() else b""
    return EventStream(frames, on_close=stream.aclose, headers=SSE_HEADERS, first=head)
