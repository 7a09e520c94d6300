"""The shared simulator with a fast batch lifecycle, and llm_magics pointed at it.

``batch_step_s`` is small so a batch goes validating -> in_progress ->
finalizing -> completed in about a tenth of a second, and tests poll every
``POLL`` seconds instead of backing off from 1 s. The simulator's counters
(``stats["batches"]``, ``stats["chat_requests"]``) are the witness for what
was really sent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from batch_helpers import API_KEY, MODEL, STEP_S

import llm_magics
from tests.support.sim import Simulator


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[Simulator]:
    with Simulator(batch_step_s=STEP_S) as simulator:
        yield simulator


@pytest.fixture
def llm(sim: Simulator) -> Simulator:
    """The simulator, with llm_magics configured for it (settings reset after each test)."""
    llm_magics.configure(base_url=sim.base_url, api_key=API_KEY, model=MODEL,
                         backoff_initial_s=0.01, backoff_max_s=0.05)
    return sim
