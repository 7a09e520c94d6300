"""SDK clients for the shared simulator (``sim``, reset before each test: tests.support.fixtures).

Tests that need constructor-only options (models, api_key) start their own ``Simulator``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import AsyncOpenAI, OpenAI

from tests.support.sim import Simulator

API_KEY = "sk-test"


@pytest.fixture
def client(sim: Simulator) -> Iterator[OpenAI]:
    with OpenAI(base_url=sim.base_url, api_key=API_KEY, max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
def aclient(sim: Simulator) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=sim.base_url, api_key=API_KEY, max_retries=0, timeout=10)
