"""Connections as servers other than our simulator handle them: keep-alive that runs out,
``Connection: close`` on every answer, a connection dropped before any answer."""

from __future__ import annotations

import pytest
from raw_http_server import KeepAliveServer
from wire_shapes import TEXT, TRANSPORTS, WIRES, ask, completion, http

import llm_magics
from llm_magics import errors


def totals() -> dict:
    return llm_magics.status()["totals"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_pooled_connection_the_server_closed_is_sent_again_at_once(transport):
    """The server's keep-alive runs out just as the next request goes out on that connection:
    it never read it. Was: a failed attempt (a breaker failure, a second rate-limit slot, a
    backoff), and with max_retries=0 a failed call. (The SDK path still does that.)"""
    def reply(connection: int, nth: int) -> bytes | None:
        return http(completion()) if nth == 1 else None

    with KeepAliveServer(reply) as server:
        assert ask(server.base_url, "lean", transport).text == TEXT
        before = totals()
        assert ask(server.base_url, "lean", transport, breaker_threshold=1).text == TEXT
        after = totals()
        assert (server.connections, server.requests) == (2, 3)
    assert after["attempts"] - before["attempts"] == 1
    assert after["retries"] == before["retries"]


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_a_fresh_connection_closed_unanswered_is_not_sent_again(path, transport):
    with KeepAliveServer(lambda connection, nth: None) as server:
        with pytest.raises(errors.APIConnectionError):
            ask(server.base_url, path, transport)
        assert server.requests == 1  # max_retries=0: nothing sent behind the caller's back


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_connection_close_on_each_answer_is_never_reused(path, transport):
    """The server says ``Connection: close`` but leaves the socket open: a client that
    reused it anyway would send its next request on the first connection."""
    closing = http(completion(), headers=b"connection: close\r\n")
    with KeepAliveServer(lambda connection, nth: closing) as server:
        for _ in range(3):
            assert ask(server.base_url, path, transport).text == TEXT
        assert (server.connections, server.requests) == (3, 3)


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_keep_alive_serves_many_answers_on_one_connection(path, transport):
    with KeepAliveServer(lambda connection, nth: http(completion())) as server:
        for _ in range(3):
            assert ask(server.base_url, path, transport).text == TEXT
        assert (server.connections, server.requests) == (1, 3)
