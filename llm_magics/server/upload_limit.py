"""A size cap on ``POST /v1/files`` that answers 400 "File is too large." the way OpenAI does.

Starlette's own body limit answers 413 and stops reading at once; a client
still writing a large upload then often sees a reset connection instead of
the answer. Here an oversize body is read to its end and thrown away (up to
``DRAIN_CAP_BYTES`` more, nothing is stored), so the SDK receives the error
body and raises ``BadRequestError`` with a message that says what to do.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .openai_shapes import ErrorReply, bad_request, error_response

__all__ = ["DRAIN_CAP_BYTES", "FORM_SLACK_BYTES", "REFUSAL_KEY", "TOO_LARGE_KEY",
           "content_length", "file_too_large", "limit_upload"]

TOO_LARGE_KEY = "llm_magics.upload_too_large"
"""Scope key set (to the limit in bytes) when an upload was cut short for its size."""

REFUSAL_KEY = "llm_magics.refusal"
"""Scope key set to the :class:`ErrorReply` to answer when a body read was cut short."""

FORM_SLACK_BYTES = 64 * 1024
"""Room for the multipart framing around the file itself (boundaries, headers, purpose)."""

DRAIN_CAP_BYTES = 256 * 1024 * 1024
"""Past this much surplus we stop draining and answer at once (the client may see a reset)."""


def file_too_large(limit_bytes: int) -> ErrorReply:
    """OpenAI's answer to an oversize upload: 400, ``File is too large.``"""
    mb = limit_bytes / (1024 * 1024)
    return bad_request(
        f"File is too large. This server accepts files up to {mb:g} MB (--max-file-mb); "
        "split the batch into smaller files."
    )


def content_length(scope: Scope) -> int | None:
    """The declared ``Content-Length`` (``None``: none, or not a number)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _drain(receive: Receive, cap: int, idle_s: float | None) -> None:
    """Read and discard the rest of the body (at most ``cap`` bytes, no pause over ``idle_s``)."""
    seen = 0
    while seen <= cap:
        try:
            message = await asyncio.wait_for(receive(), idle_s)
        except asyncio.TimeoutError:
            return
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _upload_stalled(idle_s: float) -> ErrorReply:
    return ErrorReply(
        408, f"The upload paused for more than {idle_s:g}s; send the file without stalling.",
        code="request_timeout", headers={"connection": "close"})


async def limit_upload(app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                       max_bytes: int, idle_timeout_s: float | None = None) -> None:
    """Serve one upload request through ``app`` with the body capped at ``max_bytes`` (+ framing).

    A declared ``Content-Length`` over the cap is refused before the app sees
    anything; an undeclared one is counted and cut, and the app's form parser
    then fails, which the error handlers report as the same 400 (``TOO_LARGE_KEY``).
    A body that pauses longer than ``idle_timeout_s`` is cut the same way and
    answered 408 (``REFUSAL_KEY``).
    """
    cap = max_bytes + FORM_SLACK_BYTES
    length = content_length(scope)
    if length is not None and length > cap:
        await _drain(receive, DRAIN_CAP_BYTES, idle_timeout_s)
        await error_response(file_too_large(max_bytes))(scope, receive, send)
        return
    counted = 0

    async def counting_receive() -> Message:
        nonlocal counted
        try:
            message = await asyncio.wait_for(receive(), idle_timeout_s)
        except asyncio.TimeoutError:
            scope[REFUSAL_KEY] = _upload_stalled(idle_timeout_s or 0)
            return {"type": "http.request", "body": b"", "more_body": False}
        if message["type"] == "http.request":
            counted += len(message.get("body", b""))
            if counted > cap:
                scope[TOO_LARGE_KEY] = max_bytes
                if message.get("more_body", False):
                    await _drain(receive, DRAIN_CAP_BYTES, idle_timeout_s)
                return {"type": "http.request", "body": b"", "more_body": False}
        return message

    await app(scope, counting_receive, send)
