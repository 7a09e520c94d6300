"""The simulator fixtures every test folder gets (``tests/conftest.py`` registers them).

``request_path`` runs a test on the lean request path and on the SDK's.
``shared_sim`` is one in-thread simulator for the session; ``sim`` is that
server settled and reset before each test, so every test sees fresh switches,
empty rate-limit windows and zero counters without paying for a restart. A
folder that needs other startup switches overrides ``shared_sim`` in its
conftest; one that needs a server of its own per test overrides ``sim``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .sim import Simulator, settled


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def sim(shared_sim: Simulator) -> Simulator:
    return settled(shared_sim)


REQUEST_PATHS = ["lean", "sdk"]


@pytest.fixture(params=REQUEST_PATHS)
def request_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once per request path: the lean one and the SDK (the reference)."""
    monkeypatch.setenv("LLM_MAGICS_REQUEST_PATH", request.param)
    return request.param
