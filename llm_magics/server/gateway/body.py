"""Reading a JSON request body under a size cap and read timeouts, before any route runs.

The body is read here, once, and replayed to the route: a body over the cap
is refused with 413 without being buffered or parsed (a declared
``Content-Length`` far over it without reading it at all), and a client that
sends its body slowly, or stops half-way, gets 408 instead of holding a
connection and a request task for as long as it likes.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope

from ...core.bounds import limited
from ..constants import BODY_TOTAL_TIMEOUT_S, OVERSIZE_DRAIN_BYTES
from ..openai_shapes import ErrorReply
from ..upload_limit import content_length

__all__ = ["BodyGone", "body_too_large", "read_body", "replay"]


_CLOSE = {"connection": "close"}
"""The rest of the body is not read, so the connection cannot carry another request."""


class BodyGone(Exception):
    """The client disconnected before its body arrived: nothing to answer."""


def body_too_large(limit: int) -> ErrorReply:
    mb = limit / (1024 * 1024)
    return ErrorReply(
        413, f"Request body too large: this gateway accepts JSON bodies up to {mb:g} MB "
        "(--max-body-mb). Send fewer or shorter messages, or use the Batch API for bulk work.",
        code="request_too_large", headers=_CLOSE)


def _too_slow(idle_s: float) -> ErrorReply:
    return ErrorReply(
        408, f"The request body did not arrive in time (a pause over {idle_s:g}s, or over "
        f"{BODY_TOTAL_TIMEOUT_S:g}s in all); send the body at once.", code="request_timeout",
        headers=_CLOSE)


async def _next(receive: Receive, idle_s: float, deadline: float) -> Message:
    remaining = min(idle_s, deadline - asyncio.get_running_loop().time())
    try:
        if remaining <= 0:
            raise asyncio.TimeoutError
        message = await limited(receive(), remaining)  # no extra task, no extra loop turn
    except asyncio.TimeoutError:
        raise _too_slow(idle_s) from None
    if message["type"] == "http.disconnect":
        raise BodyGone
    return message


async def _discard(receive: Receive, budget: int, idle_s: float, deadline: float) -> None:
    seen = 0
    while seen <= budget:
        message = await _next(receive, idle_s, deadline)
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def read_body(scope: Scope, receive: Receive, limit: int, idle_s: float) -> bytes:
    """The whole body (at most ``limit`` bytes), or raise the 413/408 to send (or BodyGone)."""
    deadline = asyncio.get_running_loop().time() + BODY_TOTAL_TIMEOUT_S
    declared = content_length(scope)
    if declared is not None and declared > limit:
        if declared - limit <= OVERSIZE_DRAIN_BYTES:  # let a client that writes first read the 413
            await _discard(receive, declared, idle_s, deadline)
        raise body_too_large(limit)
    parts: list[bytes] = []
    size = 0
    while True:
        message = await _next(receive, idle_s, deadline)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise body_too_large(limit)
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` once, then the real messages (a later disconnect)."""
    sent = False

    async def replaying() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying
