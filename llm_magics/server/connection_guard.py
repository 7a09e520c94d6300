"""Closing connections that are slow to say what they want (slowloris), for a shared server.

uvicorn bounds idle keep-alive connections (``timeout_keep_alive``) and the
number of connections (``limit_concurrency``), but not the time a client
takes to send a request's headers: a connection that sends nothing, or one
header line every few seconds, is held forever, and enough of them exhaust
the server. :func:`guarded_protocol` wraps uvicorn's HTTP protocol with a
header deadline: from a connection's first moment, and from the first byte of
each next request, the headers must be complete within ``header_timeout_s``
and ``max_header_bytes``, or the connection is closed. Its transport holds each
response head for the body's first write (``head_with_body``). Body reads are bounded
by the app (see the gateway's ``body`` module), where the route is known.

The other direction has the same hole: a client that stops reading (its TCP
window stays full) leaves the app's next write waiting forever, and with it
whatever the response holds (a gateway stream keeps a shared concurrency
slot). When the transport's buffer has stayed full (writing paused) for
``write_timeout_s``, the connection is aborted; the app then sees a
disconnect and releases what it held. A client reading steadily resumes
writing long before that (the buffer drains below its low-water mark).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from .constants import (
    HEADER_TIMEOUT_S,
    KEEP_ALIVE_S,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    WRITE_TIMEOUT_S,
)
from .head_with_body import HeadWithBody

__all__ = ["ConnectionLimits", "guarded_protocol"]


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may cost a server before it is closed or refused (503)."""

    header_timeout_s: float = HEADER_TIMEOUT_S
    max_header_bytes: int = MAX_HEADER_BYTES
    write_timeout_s: float = WRITE_TIMEOUT_S
    keep_alive_s: int = KEEP_ALIVE_S
    max_connections: int = MAX_CONNECTIONS

    def uvicorn_options(self) -> dict[str, Any]:
        return {
            "http": guarded_protocol(self),
            "timeout_keep_alive": self.keep_alive_s,
            "limit_concurrency": self.max_connections,
            "h11_max_incomplete_event_size": self.max_header_bytes,
        }


def _uvicorn_protocol() -> type[asyncio.Protocol]:
    """The class uvicorn's ``http="auto"`` would pick."""
    try:
        import httptools  # noqa: F401
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def guarded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's protocol class with a header deadline (both implementations set ``cycle``
    when a request's headers are complete, which is what ends the deadline)."""
    base: Any = _uvicorn_protocol()

    class GuardedProtocol(base):  # type: ignore[misc, valid-type]
        _timer: asyncio.TimerHandle | None = None
        _armed_for: Any = None
        _header_bytes = 0
        _write_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(HeadWithBody(transport, self.loop))
            self._arm()

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            idle = before is None or before.response_complete
            super().data_received(data)
            if self.cycle is not before:  # a new request's headers are complete
                self._disarm()
                return
            if self._timer is None:
                if not idle or self.transport.is_closing():
                    return  # body bytes of the request in progress
                self._arm()
            self._header_bytes += len(data)  # still no complete headers
            if self._header_bytes > limits.max_header_bytes:
                self._expire()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._writable()
            super().connection_lost(exc)

        def pause_writing(self) -> None:  # the client's window and our buffer are full
            super().pause_writing()
            if self._write_timer is None:
                self._write_timer = self.loop.call_later(limits.write_timeout_s,
                                                         self.transport.abort)

        def resume_writing(self) -> None:
            self._writable()
            super().resume_writing()

        def _writable(self) -> None:
            if self._write_timer is not None:
                self._write_timer.cancel()
                self._write_timer = None

        def _arm(self) -> None:
            self._armed_for = self.cycle
            self._header_bytes = 0
            self._timer = self.loop.call_later(limits.header_timeout_s, self._expire)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expire(self) -> None:
            self._disarm()
            cycle = self.cycle
            if cycle is not self._armed_for or (cycle is not None
                                                and not cycle.response_complete):
                return  # headers completed meanwhile (a pipelined request): not ours to stop
            if not self.transport.is_closing():
                self.transport.close()

    GuardedProtocol.__name__ = f"Guarded{base.__name__}"
    return GuardedProtocol
