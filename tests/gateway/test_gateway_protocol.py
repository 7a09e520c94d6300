"""The connection guard under each HTTP implementation uvicorn can run: httptools and h11.

The gateway takes httptools when it is installed (the ``sim`` extra installs
it, for speed); h11 is the fallback. The guard wraps whichever runs, and the
header deadline and header-size cap must hold under both, so each test runs
against both classes and first proves which one is really serving.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from hostile import closed_by_peer, connect, read_response, request_head, trickle_until_closed
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llm_magics.server import connection_guard
from llm_magics.server.constants import MAX_HEADER_BYTES
from tests.support.gateway import Gateway

IMPLEMENTATIONS = {"httptools": HttpToolsProtocol, "h11": H11Protocol}


@pytest.fixture(params=list(IMPLEMENTATIONS))
def guarded(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
            make_gateway: Callable[..., Gateway]) -> Callable[..., Gateway]:
    """``guarded(**config)``: a gateway whose guard wraps the parametrised implementation."""
    base = IMPLEMENTATIONS[request.param]
    if request.param == "httptools":
        assert connection_guard._uvicorn_protocol() is base, "httptools is not installed"
    else:
        monkeypatch.setattr(connection_guard, "_uvicorn_protocol", lambda: base)

    def make(**options: object) -> Gateway:
        gateway = make_gateway(**options)
        with connect(gateway.url) as sock:  # one kept-alive connection, answered, still open
            sock.sendall(request_head("GET", "/healthz", {"host": "127.0.0.1"}))
            assert read_response(sock)[0] == 200
            classes = gateway.connection_classes()
        assert len(classes) == 1
        served = classes.pop()
        assert issubclass(served, base) and served.__name__ == f"Guarded{base.__name__}"
        return gateway
    return make


def test_oversized_headers_close_the_connection(guarded: Callable[..., Gateway]) -> None:
    gateway = guarded(header_timeout_s=30)  # the cap, not the deadline, must end it
    with connect(gateway.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        try:
            for i in range(MAX_HEADER_BYTES // 1000 + 10):  # never ends the header block
                sock.sendall(f"x-pad-{i}: {'y' * 1000}\r\n".encode())
        except OSError:
            pass  # closed while we were still sending: what the test wants
        assert closed_by_peer(sock, wait_s=10)
    big_but_allowed = {"host": "127.0.0.1", "x-pad": "y" * (MAX_HEADER_BYTES // 2)}
    assert httpx.get(gateway.url + "/healthz", headers=big_but_allowed).status_code == 200


def test_trickled_headers_are_closed_at_the_deadline(guarded: Callable[..., Gateway]) -> None:
    gateway = guarded(header_timeout_s=0.5)
    with connect(gateway.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        assert trickle_until_closed(sock)  # 20 s of lines if the deadline did not hold
    with connect(gateway.url) as sock:  # a request, then silence on the kept-alive connection
        sock.sendall(request_head("GET", "/healthz", {"host": "127.0.0.1"}))
        assert read_response(sock)[0] == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next request's headers never finish
        assert closed_by_peer(sock, wait_s=10)


def test_a_stream_arrives_whole_and_in_step(guarded: Callable[..., Gateway]) -> None:
    gateway = guarded(cache=False)  # each response head is held for its body (head_with_body)
    body = json.dumps({"model": "sim-small", "stream": True,
                       "messages": [{"role": "user", "content": "one segment"}]}).encode()
    with connect(gateway.url) as sock:
        sock.sendall(request_head("POST", "/v1/chat/completions", {
            "host": "127.0.0.1", "content-type": "application/json",
            "content-length": str(len(body))}) + body)
        data = b""
        while not data.endswith(b"0\r\n\r\n"):  # the chunked body's last chunk
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        head, _, events = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head
        assert events.index(b'"role":"assistant"') < events.index(b"data: [DONE]")
        sock.sendall(request_head("GET", "/healthz", {"host": "127.0.0.1"}))
        assert read_response(sock)[0] == 200  # the connection is in step for the next request
