import asyncio

import pytest

from llm_magics.core.loop_thread import run_sync


async def answer():
    await asyncio.sleep(0.01)
    return 42


def test_run_sync_from_plain_code():
    assert run_sync(answer()) == 42


def test_run_sync_from_inside_a_running_loop():
    async def cell():  # like a Jupyter cell: a loop is already running in this thread
        return run_sync(answer())

    assert asyncio.run(cell()) == 42


def test_run_sync_inside_the_runner_loop_is_refused_with_advice():
    async def nested():
        return run_sync(answer())

    with pytest.raises(RuntimeError, match="await the async variant"):
        run_sync(nested())
