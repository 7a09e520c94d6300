"""Shared fixtures: every test gets its own cache/job/history files and no configured settings.

The simulator fixtures (``shared_sim``, ``sim``) come from ``tests.support.fixtures``.
"""

from __future__ import annotations

import pytest

from llm_magics.core import settings as settings_mod
from llm_magics.core.loop_thread import run_sync
from llm_magics.core.policy.cache import close_all as close_caches
from llm_magics.core.wire import close_connections

# Helpers there assert too; rewriting makes their failures show values, as in a test.
pytest.register_assert_rewrite("tests.support")
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("LLM_MAGICS_") or name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_MAGICS_CACHE_PATH", str(tmp_path / "cache.sqlite"))
    monkeypatch.setenv("LLM_MAGICS_JOBSTORE_PATH", str(tmp_path / "jobs.sqlite"))
    monkeypatch.setenv("LLM_MAGICS_HISTORY_PATH", str(tmp_path / "history.sqlite"))
    settings_mod.reset()
    yield
    settings_mod.reset()
    # Each test has its own cache file and often its own server: a session of a thousand
    # tests keeps no descriptors for the ones before.
    close_caches()
    run_sync(close_connections(), timeout=10)
