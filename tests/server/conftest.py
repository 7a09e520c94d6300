"""Fixtures: one in-thread simulator per session, reset before each test, and SDK clients.

``reset("all")`` restores the startup switches, empties the rate-limit windows,
rewinds the fault dice and zeroes the counters, so each test sees a fresh
server without paying for a restart. Tests that need constructor-only options
(models, api_key) start their own ``Simulator``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from openai import AsyncOpenAI, OpenAI

from llm_magics.server.sim import Simulator

API_KEY = "sk-test"


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def sim(shared_sim: Simulator) -> Simulator:
    deadline = time.monotonic() + 2
    while shared_sim.stats["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.01)  # let a previous test's abandoned request finish
    shared_sim.reset("all")
    return shared_sim


@pytest.fixture
def client(sim: Simulator) -> Iterator[OpenAI]:
    with OpenAI(base_url=sim.base_url, api_key=API_KEY, max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
def aclient(sim: Simulator) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=sim.base_url, api_key=API_KEY, max_retries=0, timeout=10)
