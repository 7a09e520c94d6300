"""Fixtures: the shared simulator as the upstream (``sim``), a fresh gateway per test.

Each gateway gets its own state directory, so batches, files and the response
cache never leak between tests; the simulator's counters are the witness for
what really reached the upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from llm_magics.server.gateway import GatewayConfig
from tests.support.gateway import Gateway
from tests.support.sim import Simulator

CLIENT_KEY = "sk-gateway-client"


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Core retry/breaker timings in milliseconds, so fault tests take well under a second."""
    monkeypatch.setenv("LLM_MAGICS_BACKOFF_INITIAL_S", "0.02")
    monkeypatch.setenv("LLM_MAGICS_BACKOFF_MAX_S", "0.1")
    monkeypatch.setenv("LLM_MAGICS_BREAKER_COOLDOWN_S", "0.3")


@pytest.fixture
def make_gateway(sim: Simulator, tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """``make_gateway(**config)`` starts a gateway in front of ``sim``; all stop at teardown."""
    started: list[Gateway] = []

    def make(**options: Any) -> Gateway:
        options.setdefault("upstream", sim.base_url)
        options.setdefault("state_dir", tmp_path / f"gateway-{len(started)}")
        options.setdefault("batch_retry_s", 0.1)
        gateway = Gateway(GatewayConfig(**options)).start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway()


@pytest.fixture
def client(gateway: Gateway) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0, timeout=30) as c:
        yield c

