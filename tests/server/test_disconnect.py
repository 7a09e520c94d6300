"""``unless_disconnected`` on its own: an ASGI ``receive`` that reports a hang-up on cue."""

from __future__ import annotations

import asyncio

import pytest

from llm_magics.server.disconnect import ClientGone, unless_disconnected


def _receive(left: asyncio.Event):
    async def receive() -> dict[str, str]:
        await left.wait()
        return {"type": "http.disconnect"}
    return receive


async def _work(started: asyncio.Event, seen: list[str], answer: str = "") -> str:
    started.set()
    try:
        if answer:
            return answer
        await asyncio.Event().wait()  # an upstream that never answers
    except asyncio.CancelledError:
        seen.append("cancelled")
        raise
    return "unreachable"


def test_the_answer_comes_back_while_the_client_stays() -> None:
    async def scenario() -> str:
        return await unless_disconnected(_receive(asyncio.Event()),
                                         _work(asyncio.Event(), [], answer="hello"))
    assert asyncio.run(scenario()) == "hello"


def test_a_client_leaving_cancels_the_work() -> None:
    seen: list[str] = []

    async def scenario() -> None:
        left, started = asyncio.Event(), asyncio.Event()
        waiting = asyncio.ensure_future(unless_disconnected(_receive(left),
                                                            _work(started, seen)))
        await started.wait()
        left.set()
        with pytest.raises(ClientGone):
            await waiting
        if hasattr(waiting, "cancelling"):  # 3.11+: no cancel request is left pending
            assert waiting.cancelling() == 0

    asyncio.run(scenario())
    assert seen == ["cancelled"]


def test_a_server_cancelling_the_request_is_not_taken_for_a_hang_up() -> None:
    seen: list[str] = []

    async def scenario() -> None:
        started = asyncio.Event()
        waiting = asyncio.ensure_future(unless_disconnected(_receive(asyncio.Event()),
                                                            _work(started, seen)))
        await started.wait()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(scenario())
    assert seen == ["cancelled"]
