"""The public ``llm_magics.batch`` surface is pinned, and importing it stays light."""

from __future__ import annotations

import llm_magics.batch as batch
from llm_magics.core import batch as core_batch
from tests.support.env import heavy_imports


def test_public_batch_api_is_pinned():
    assert sorted(batch.__all__) == sorted([
        "submit", "asubmit", "submit_jsonl", "asubmit_jsonl", "jobs", "get_job", "BatchJob",
        "JobSummary"])
    for name in batch.__all__:
        assert getattr(batch, name) is not None, name
    assert batch.submit is core_batch.submit_prompts


def test_core_batch_exports_the_accessor_entry_point():
    for name in ("submit_requests", "asubmit_requests", "BatchJob", "Limits", "jobs", "get_job"):
        assert name in core_batch.__all__ and hasattr(core_batch, name), name


def test_importing_the_batch_api_loads_no_ipython_widgets_or_pandas():
    assert heavy_imports("llm_magics.batch") == []
