"""``GET /v1/history``: a client key's own calls through this gateway, from its call log.

The gateway records every call with the caller's key id (``tenants.key_id``),
never the key. A client sees its own rows only: the key id comes from the key
it authenticated with, never from the request. Query parameters: ``since`` and
``until`` (a span ago such as ``1h``, an ISO date or time, or epoch seconds),
``model``, ``limit`` (newest rows; at most ``MAX_ROWS``).

    curl -H "Authorization: Bearer $KEY" "http://127.0.0.1:8000/v1/history?since=1d"
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ... import errors
from ...core.history.query import NAMES, read_rows
from ..openai_shapes import bad_request, dumps
from .state import gateway_state
from .tenants import key_id, tenant_of

__all__ = ["router", "MAX_ROWS"]

router = APIRouter()

MAX_ROWS = 10_000
"""Rows one answer holds at most (about 10 MB with text); page with ``until``."""

_HIDDEN = ("client",)  # the caller's own id: it knows who it is


@router.get("/v1/history")
async def history(request: Request) -> Response:
    gw = gateway_state(request)
    query = request.query_params
    limit = _limit(query.get("limit"))
    try:
        rows = await asyncio.to_thread(
            read_rows, since=query.get("since"), until=query.get("until"),
            model=query.get("model"), limit=limit, path=gw.settings.history_path,
            client=key_id(tenant_of(request.scope).id))
    except errors.InvalidRequestError as err:
        raise bad_request(err.message) from None
    data = [{k: v for k, v in zip(NAMES, row, strict=True) if k not in _HIDDEN}
            for row in rows]
    return Response(dumps({"object": "list", "data": data}), media_type="application/json")


def _limit(raw: Any) -> int:
    if raw is None:
        return MAX_ROWS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_ROWS:
        raise bad_request(f"limit must be a whole number from 1 to {MAX_ROWS}.", param="limit")
    return value
