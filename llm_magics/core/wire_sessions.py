"""The pooled HTTP sessions under the lean path: one per endpoint and loop, aiohttp or httpx.

Both hand back a ``Reply`` of the same shape (``status``, ``headers``, ``read()``,
``aiter_bytes()``, ``aclose()``), and raise only ``llm_magics.errors``: a
transport's timeout is an ``APITimeoutError``, anything else it raises an
``APIConnectionError`` that says whether the answer had begun.

A request that went out on a pooled connection the server had just closed (its
keep-alive ran out) is sent again at once on another, up to ``STALE_RESENDS``
times: the server never read it, so the engine sees no failed attempt, the
breaker counts nothing and no second rate-limit slot is taken. Each transport
tells whether a connection was reused: our aiohttp connector, httpcore's ``trace``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from functools import partial
from typing import Any, Protocol

import aiohttp
import openai

try:  # the HTTP library under the SDK: httpx2 from openai 3 on, httpx before
    import httpx2 as _http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as _http

from .. import errors
from .client import connection_error, timed_out, timeout_error, undecodable, undecodable_error
from .constants import STALE_RESENDS
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


class _Reuse:
    """Whether one request went out on a pooled connection, as the transport's hooks saw it."""

    __slots__ = ("reused", "connected")

    def __init__(self) -> None:
        self.reused = False
        self.connected = False

    async def httpcore_event(self, name: str, info: object) -> None:
        """httpx's ``trace`` extension: headers sent without a connect first means reused."""
        if name == "connection.connect_tcp.started":
            self.connected = True
        elif name == "http11.send_request_headers.started":
            self.reused = not self.connected


_sending: ContextVar[_Reuse | None] = ContextVar("llm_magics_sending", default=None)
"""The request the running task is sending on the aiohttp session, for ``_Connector``."""


class _Connector(aiohttp.TCPConnector):
    """Tells the request being sent whether its connection came from the pool (a connection
    it handed out before). aiohttp's own tracing would dispatch a dozen signals per request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handed_out: weakref.WeakSet[Any] = weakref.WeakSet()

    async def connect(self, *args: Any, **kwargs: Any) -> Any:
        connection = await super().connect(*args, **kwargs)
        reuse, protocol = _sending.get(), connection.protocol
        if reuse is not None and protocol is not None:
            reuse.reused = protocol in self._handed_out
            self._handed_out.add(protocol)
        return connection


class _Guard:
    """How one transport's exceptions become ``llm_magics.errors`` for one endpoint."""

    def __init__(self, endpoint: Endpoint, failures: tuple[type[BaseException], ...],
                 is_timeout: Callable[[BaseException], bool]) -> None:
        self._endpoint = endpoint
        self._failures = failures
        self._is_timeout = is_timeout

    def _error(self, err: BaseException, started: bool) -> errors.LLMError:
        failure = undecodable(err)
        if failure is not None:
            return undecodable_error(self._endpoint, failure)
        if self._is_timeout(err):
            return timeout_error(self._endpoint)
        return connection_error(self._endpoint, err, started=started)

    async def call(self, awaitable: Awaitable[Any], *, started: bool) -> Any:
        try:
            return await awaitable
        except self._failures as err:
            raise self._error(err, started) from None

    async def opened(self, send: Callable[[_Reuse], Awaitable[Any]],
                     stale: tuple[type[BaseException], ...]) -> Any:
        """``send(reuse)``'s response; sent again when it failed as ``stale`` on a reused
        connection (the server closed it as the request left, so it never read it)."""
        for _ in range(STALE_RESENDS):
            reuse = _Reuse()
            try:
                return await send(reuse)
            except self._failures as err:
                if not (reuse.reused and isinstance(err, stale)):
                    raise self._error(err, False) from None
        return await self.call(send(_Reuse()), started=False)

    async def iterate(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for data in source:
                yield data
        except self._failures as err:
            raise self._error(err, True) from None


class _GuardedReply:
    """One transport's streamed response in the ``Reply`` shape."""

    def __init__(self, guard: _Guard, status: int, headers: Any,
                 read: Callable[[], Awaitable[bytes]],
                 chunks: Callable[[], AsyncIterator[bytes]],
                 close: Callable[[], Awaitable[None]]) -> None:
        self.status = status
        self.headers = headers
        self._guard = guard
        self._read = read
        self._chunks = chunks
        self._close = close

    async def read(self) -> bytes:
        return await self._guard.call(self._read(), started=True)

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        return self._guard.iterate(self._chunks())

    async def aclose(self) -> None:
        await self._close()


def _aiohttp_timeout(err: BaseException) -> bool:
    return isinstance(err, asyncio.TimeoutError)


async def _release_aiohttp(response: aiohttp.ClientResponse) -> None:
    # A body read to its end returns the connection to the pool; any other is closed.
    if response.content.at_eof():
        response.release()
    else:
        response.close()


_AIOHTTP_STALE = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
"""What a request on a connection the server had closed fails with, before any answer."""


class _AiohttpSession:
    def __init__(self, settings: Settings, endpoint: Endpoint) -> None:
        # The SDK's TLS settings too (its CA bundle, SSL_CERT_FILE / SSL_CERT_DIR honoured).
        connector = _Connector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S,
                               ssl=_http.create_ssl_context())
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, connect=settings.connect_timeout,
                                          sock_read=settings.read_timeout),
        )
        self._guard = _Guard(endpoint, (aiohttp.ClientError, asyncio.TimeoutError, OSError),
                             _aiohttp_timeout)

    async def send(self, url: str, content: bytes, headers: dict[str, str]) -> Reply:
        async def post(reuse: _Reuse) -> aiohttp.ClientResponse:
            token = _sending.set(reuse)
            try:
                return await self._session.post(url, data=content, headers=headers)
            finally:
                _sending.reset(token)

        response = await self._guard.opened(post, _AIOHTTP_STALE)
        return _GuardedReply(self._guard, response.status, response.headers, response.read,
                             response.content.iter_any, partial(_release_aiohttp, response))

    async def aclose(self) -> None:
        await self._session.close()


def _httpx_timeout(err: BaseException) -> bool:
    return isinstance(err, _http.TimeoutException) and timed_out(err)


_HTTPX_STALE = (_http.RemoteProtocolError, _http.ReadError, _http.WriteError)


class _HttpxSession:
    def __init__(self, settings: Settings, endpoint: Endpoint) -> None:
        self._client = openai.DefaultAsyncHttpxClient(timeout=_http.Timeout(
            settings.timeout, connect=settings.connect_timeout, read=settings.read_timeout))
        self._guard = _Guard(endpoint, (_http.TransportError, _http.DecodingError),
                             _httpx_timeout)

    async def send(self, url: str, content: bytes, headers: dict[str, str]) -> Reply:
        def post(reuse: _Reuse) -> Awaitable[Any]:
            request = self._client.build_request("POST", url, content=content, headers=headers,
                                                 extensions={"trace": reuse.httpcore_event})
            return self._client.send(request, stream=True)

        response = await self._guard.opened(post, _HTTPX_STALE)
        return _GuardedReply(self._guard, response.status_code, response.headers, response.aread,
                             response.aiter_bytes, response.aclose)

    async def aclose(self) -> None:
        await self._client.aclose()
