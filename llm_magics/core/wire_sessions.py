"""The pooled HTTP sessions under the lean path: one per endpoint and loop, aiohttp or httpx.

Both hand back a ``Reply`` of the same shape (``status``, ``headers``, ``read()``,
``aiter_bytes()``, ``aclose()``), and raise only ``llm_magics.errors``: a
transport's timeout is an ``APITimeoutError``, anything else it raises an
``APIConnectionError`` that says whether the answer had begun.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import aiohttp
import openai

try:  # the HTTP library under the SDK: httpx2 from openai 3 on, httpx before
    import httpx2 as _http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as _http

from .. import errors
from .client import connection_error, timed_out, timeout_error
from .endpoint import Endpoint
from .settings import Settings

__all__ = ["Reply", "Session", "open_session"]

MAX_CONNECTIONS = 1000
"""Connections per session, as the SDK's own pool (``DEFAULT_CONNECTION_LIMITS``)."""

KEEPALIVE_S = 5.0
"""How long an idle connection is kept, as the SDK's pool: many servers close theirs after
5 s, and reusing one they closed costs a failed attempt."""


class Reply(Protocol):
    status: int
    headers: Any  # case-insensitive, with ``.get``

    async def read(self) -> bytes: ...
    def aiter_bytes(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


class Session(Protocol):
    async def send(self, url: str, content: bytes, headers: dict[str, str]) -> Reply: ...
    async def aclose(self) -> None: ...


def open_session(settings: Settings, endpoint: Endpoint) -> Session:
    if settings.transport == "aiohttp":
        return _AiohttpSession(settings, endpoint)
    return _HttpxSession(settings, endpoint)


def _translated(endpoint: Endpoint, started: bool, is_timeout: Callable[[BaseException], bool]
                ) -> Callable[[BaseException], errors.LLMError]:
    def translate(err: BaseException) -> errors.LLMError:
        if is_timeout(err):
            return timeout_error(endpoint)
        return connection_error(endpoint, err, started=started)
    return translate


async def _guarded(awaitable: Awaitable[Any], failures: tuple[type[BaseException], ...],
                   translate: Callable[[BaseException], errors.LLMError]) -> Any:
    try:
        return await awaitable
    except failures as err:
        raise translate(err) from None


async def _guarded_iter(source: AsyncIterator[bytes], failures: tuple[type[BaseException], ...],
                        translate: Callable[[BaseException], errors.LLMError]
                        ) -> AsyncIterator[bytes]:
    try:
        async for data in source:
            yield data
    except failures as err:
        raise translate(err) from None


def _aiohttp_timeout(err: BaseException) -> bool:
    return isinstance(err, asyncio.TimeoutError)


_AIOHTTP_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class _AiohttpReply:
    def __init__(self, response: aiohttp.ClientResponse, endpoint: Endpoint) -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers
        self._broke = _translated(endpoint, True, _aiohttp_timeout)

    async def read(self) -> bytes:
        return await _guarded(self._response.read(), _AIOHTTP_FAILURES, self._broke)

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        return _guarded_iter(self._response.content.iter_any(), _AIOHTTP_FAILURES, self._broke)

    async def aclose(self) -> None:
        # A body read to its end returns the connection to the pool; any other is closed.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class _AiohttpSession:
    def __init__(self, settings: Settings, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        # The SDK's TLS settings too (its CA bundle, SSL_CERT_FILE / SSL_CERT_DIR honoured).
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S,
                                         ssl=_http.create_ssl_context())
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, connect=settings.connect_timeout,
                                          sock_read=settings.read_timeout),
        )
        self._failed = _translated(endpoint, False, _aiohttp_timeout)

    async def send(self, url: str, content: bytes, headers: dict[str, str]) -> Reply:
        response = await _guarded(self._session.post(url, data=content, headers=headers),
                                  _AIOHTTP_FAILURES, self._failed)
        return _AiohttpReply(response, self._endpoint)

    async def aclose(self) -> None:
        await self._session.close()


_HTTPX_FAILURES = (_http.TransportError,)


def _httpx_timeout(err: BaseException) -> bool:
    return isinstance(err, _http.TimeoutException) and timed_out(err)


class _HttpxReply:
    def __init__(self, response: Any, endpoint: Endpoint) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = response.headers
        self._broke = _translated(endpoint, True, _httpx_timeout)

    async def read(self) -> bytes:
        return await _guarded(self._response.aread(), _HTTPX_FAILURES, self._broke)

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        return _guarded_iter(self._response.aiter_bytes(), _HTTPX_FAILURES, self._broke)

    async def aclose(self) -> None:
        await self._response.aclose()


class _HttpxSession:
    def __init__(self, settings: Settings, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._client = openai.DefaultAsyncHttpxClient(timeout=_http.Timeout(
            settings.timeout, connect=settings.connect_timeout, read=settings.read_timeout))
        self._failed = _translated(endpoint, False, _httpx_timeout)

    async def send(self, url: str, content: bytes, headers: dict[str, str]) -> Reply:
        request = self._client.build_request("POST", url, content=content, headers=headers)
        response = await _guarded(self._client.send(request, stream=True), _HTTPX_FAILURES,
                                  self._failed)
        return _HttpxReply(response, self._endpoint)

    async def aclose(self) -> None:
        await self._client.aclose()
