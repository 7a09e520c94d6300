"""A client that opens streams and never reads them must not keep the shared slots.

The gateway bounds the calls in flight (``--concurrency``) for every tenant
together, and a stream holds its slot until its last chunk is written. A
client that stops reading (a zero TCP window) leaves that write pending
forever unless the server gives up on it; these attackers shrink their
receive buffer and never call ``recv``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from hostile import KEY_A, KEY_B, address, closed_by_peer, request_head
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llm_magics.server import connection_guard
from tests.support.gateway import Gateway
from tests.support.sim import Simulator
from tests.support.waiting import wait_until

IMPLEMENTATIONS = {"httptools": HttpToolsProtocol, "h11": H11Protocol}
LONG_ANSWER = 200_000
"""Tokens in the simulator's answer: megabytes of events, far more than the socket buffers."""


@contextmanager
def unread_stream(gateway: Gateway, key: str) -> Iterator[socket.socket]:
    """A streamed chat request from a socket with a tiny receive buffer that is never read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    try:
        sock.connect(address(gateway.url))
        body = json.dumps({"model": "sim-small", "stream": True, "max_tokens": LONG_ANSWER,
                           "messages": [{"role": "user", "content": "tell me everything"}]})
        sock.sendall(request_head("POST", "/v1/chat/completions", {
            "host": "127.0.0.1", "authorization": f"Bearer {key}",
            "content-type": "application/json", "content-length": str(len(body))})
            + body.encode())
        yield sock
    finally:
        sock.close()


@pytest.mark.parametrize("implementation", list(IMPLEMENTATIONS))
def test_a_stream_nobody_reads_gives_its_slot_back(
        make_gateway: Callable[..., Gateway], sim: Simulator, monkeypatch: pytest.MonkeyPatch,
        implementation: str) -> None:
    if implementation == "h11":  # the guard wraps whichever protocol uvicorn runs
        monkeypatch.setattr(connection_guard, "_uvicorn_protocol", lambda: H11Protocol)
    sim.configure(answer_tokens=LONG_ANSWER)
    gateway = make_gateway(client_keys=(KEY_A, KEY_B), concurrency=1, write_timeout_s=0.5)
    slots = gateway.state.slots
    with unread_stream(gateway, KEY_A) as stalled:
        wait_until(lambda: slots.in_use == 1, what="the stream holding the only slot")
        served = gateway.connection_classes()
        assert served and all(issubclass(c, IMPLEMENTATIONS[implementation]) for c in served)
        wait_until(lambda: slots.in_use == 0, what="the stalled stream's slot released")
        assert closed_by_peer(stalled, wait_s=30)
    answer = httpx.post(gateway.base_url + "/chat/completions", timeout=60,
                        headers={"authorization": f"Bearer {KEY_B}"},
                        json={"model": "sim-small", "max_tokens": 4,
                              "messages": [{"role": "user", "content": "my turn"}]})
    assert answer.status_code == 200, answer.text
