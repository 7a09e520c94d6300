"""Cutting a client's TCP connection on purpose, the way a flaky upstream does.

Raising inside an ASGI app makes uvicorn answer 500 (before the response
started) or log a traceback, neither of which is a real network fault. Closing
the transport instead gives the client exactly what a dropped connection looks
like: "server disconnected without sending a response" or an incomplete
chunked body. :class:`SimApp` stores uvicorn's own ``send`` in the scope, whose
owner holds the transport.
"""

from __future__ import annotations

import asyncio
from typing import Any

RAW_SEND_KEY = "llm_magics.sim.raw_send"


class SimulatedDrop(Exception):
    """Raised when the transport is not reachable (non-uvicorn server): still a fault."""


async def drop_connection(scope: dict[str, Any]) -> None:
    """Close the client's connection now; returns once the server saw it closed."""
    cycle = getattr(scope.get(RAW_SEND_KEY), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise SimulatedDrop("simulated connection drop")
    transport.close()
    # connection_lost runs on a later loop iteration; until it has, uvicorn would
    # log "returned without completing response" when the handler returns.
    for _ in range(50):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0.001)


def client_gone(scope: dict[str, Any]) -> bool:
    """True once the client's socket is closing, even before uvicorn has noticed.

    A fast stream would otherwise keep writing into a dead socket until the
    disconnect event is processed (and asyncio logs "socket.send() raised").
    """
    cycle = getattr(scope.get(RAW_SEND_KEY), "__self__", None)
    if cycle is None:
        return False
    if getattr(cycle, "disconnected", False):
        return True
    transport = getattr(cycle, "transport", None)
    return bool(transport is not None and transport.is_closing())

