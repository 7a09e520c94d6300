"""Real-model tier: one llama.cpp server with the packaged SmolLM2 for the whole session.

Starting costs ~0.5 s, but sharing one server keeps the tier quick and shows
reuse works. Every test sees the session's private state directory (the root
conftest wipes ``LLM_MAGICS_*`` per test, so it is set again here), and tests
that need their own server lifecycle run it in a child process with their own
state directory, never touching the shared one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from llm_magics import local
from tests.support.local_model import missing_reason

_REASON = missing_reason()
if _REASON:  # the real-model tier must run, never be skipped quietly
    pytest.fail(f"embedded local model not installed: {_REASON}", pytrace=False)


@pytest.fixture(scope="session")
def session_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-state")


@pytest.fixture(scope="session")
def server(session_state_dir: Path) -> Iterator[local.LocalServer]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(local.STATE_DIR_ENV, str(session_state_dir))
        running = local.start()
        yield running
        local.stop()


@pytest.fixture(autouse=True)
def _session_state_env(isolated_settings, monkeypatch: pytest.MonkeyPatch,
                       session_state_dir: Path) -> None:
    monkeypatch.setenv(local.STATE_DIR_ENV, str(session_state_dir))


@pytest.fixture
def client(server: local.LocalServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=60) as c:
        yield c
