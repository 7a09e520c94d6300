"""Sending one chat-completions request: the lean path by default, the OpenAI SDK on request.

The SDK builds every request through its option models, header merging and a
transport adapter, which at a few hundred calls a second is most of the
client's CPU. The lean path posts the body as JSON bytes (msgspec) straight on a
pooled session (``core.wire_sessions``) with the headers the SDK would send,
taken once per endpoint from an SDK client, so ``Authorization``,
``OpenAI-Organization``/``OpenAI-Project`` and ``User-Agent`` stay the same. A
status >= 400 is mapped by the function the SDK path uses
(``client.status_error``). ``request_path="sdk"`` sends through the SDK instead:
it is the reference the tests hold the lean path to.

    content, headers = await post_chat(body, priority, endpoint, settings)
    reply = await open_chat(body, priority, endpoint, settings)     # a stream's body
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai

from .. import errors
from . import loop_thread
from .client import RAW_RESPONSE, close_clients, get_client, status_error, translate_error
from .endpoint import Endpoint
from .jsoncodec import decode_json, encode_json
from .settings import Settings
from .wire_sessions import Reply, Session, open_session

__all__ = ["post_chat", "open_chat", "error_body", "close_connections", "PRIORITY_HEADER"]

PRIORITY_HEADER = "X-LLM-Priority"
"""Tells an llm-magics gateway how to queue this call among its other clients."""


class _Wire:
    """The lean path to one endpoint: its URL, the SDK's headers, a pooled session."""

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.url = f"{endpoint.base_url}/chat/completions"
        sdk = get_client(endpoint, settings)
        self.headers = {k: v for k, v in {**sdk.auth_headers, **sdk.default_headers}.items()
                        if isinstance(v, str)}  # the SDK's Omit() marks a header it leaves out
        # What the SDK adds to each request: it never retries (max_retries=0).
        self.headers["x-stainless-retry-count"] = "0"
        self.headers["x-stainless-read-timeout"] = str(settings.read_timeout)
        self._by_priority: dict[str, dict[str, str]] = {}
        self.session: Session = open_session(settings, endpoint)

    def headers_for(self, priority: str) -> dict[str, str]:
        headers = self._by_priority.get(priority)
        if headers is None:
            headers = self._by_priority[priority] = {**self.headers, PRIORITY_HEADER: priority}
        return headers

    async def send(self, content: bytes, priority: str) -> Reply:
        """The reply once its headers are in; a status >= 400 is raised as our error."""
        reply = await self.session.send(self.url, content, self.headers_for(priority))
        if reply.status < 400:
            return reply
        try:
            text = (await reply.read()).decode("utf-8", "replace").strip()
        finally:
            await reply.aclose()
        raise translate_error(status_error(reply.status, reply.headers, error_body(text),
                                           self.endpoint), self.endpoint)


def error_body(text: str) -> object:
    """The body as the SDK's ``APIStatusError.body`` holds it: the ``error`` member unwrapped
    (the JSON of an error answer, or of a stream's ``event: error`` frame), else the text."""
    try:
        body = decode_json(text)
    except ValueError:
        return text
    return body.get("error", body) if isinstance(body, dict) else body


_wires: dict[tuple[Any, ...], _Wire] = {}


def _wire_for(endpoint: Endpoint, settings: Settings) -> _Wire:
    key = (id(asyncio.get_running_loop()), endpoint.base_url, endpoint.api_key,
           settings.transport, settings.connect_timeout, settings.read_timeout, settings.timeout)
    wire = _wires.get(key)
    if wire is None:
        wire = _wires[key] = _Wire(endpoint, settings)
    return wire


async def close_connections() -> None:
    """Close the lean sessions and the SDK clients owned by the running loop (shutdown, tests)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _wires if k[0] == loop_id]:
        await _wires.pop(key).session.aclose()
    await close_clients()


loop_thread.on_shutdown(close_connections)


async def post_chat(body: dict[str, Any], priority: str, endpoint: Endpoint,
                    settings: Settings) -> tuple[bytes, Any]:
    """The answer's JSON bytes and the response headers."""
    if settings.request_path == "sdk":
        try:
            raw = await get_client(endpoint, settings).post(
                "/chat/completions", body=body, cast_to=RAW_RESPONSE,
                options={"headers": {PRIORITY_HEADER: priority}})
        except (openai.OpenAIError, errors.LLMError) as err:
            raise translate_error(err, endpoint) from None
        return raw.content, raw.headers
    reply = await _wire_for(endpoint, settings).send(encode_json(body), priority)
    try:
        return await reply.read(), reply.headers
    finally:
        await reply.aclose()


async def open_chat(body: dict[str, Any], priority: str, endpoint: Endpoint,
                    settings: Settings) -> Any:
    """A streaming request's response, for ``ChatStream``: status errors are raised here."""
    if settings.request_path == "sdk":
        try:
            return await get_client(endpoint, settings).post(
                "/chat/completions", body=body, cast_to=RAW_RESPONSE, stream=True,
                options={"headers": {PRIORITY_HEADER: priority}})
        except (openai.OpenAIError, errors.LLMError) as err:
            raise translate_error(err, endpoint) from None
    return await _wire_for(endpoint, settings).send(encode_json(body), priority)
