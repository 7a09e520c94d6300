"""A fresh in-thread simulator per test, with the library pointed at it and df.llm registered.

The server's request counters are the witness: a test that says "no call" or
"sent once" reads them from the server's side, not from our own bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import llm_magics
from llm_magics.pandas import register
from tests.support.sim import Simulator, chat_body

MODEL = "sim-small"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def accessor() -> None:
    """df.llm exists in every test, whichever test runs first."""
    register()


@pytest.fixture
def llm(sim: Simulator) -> Simulator:
    """The simulator, with llm_magics configured for it (settings reset after each test)."""
    llm_magics.configure(base_url=sim.base_url, api_key="sk-test", model=MODEL)
    return sim


@pytest.fixture
def body() -> Any:
    """``body(prompt, system=..., **params)``: the chat body the library sends for ``prompt``."""
    return chat_body
