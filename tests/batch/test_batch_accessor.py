"""The call the DataFrame accessor makes for ``mode="batch"`` gives what async mode gives.

``df.llm.apply(..., mode="batch")`` is wired in ``llm_magics.pandas`` (not
here); this pins the one core call it makes, on the accessor's own plan, so
the batch result is index-aligned exactly like the async one.
"""

from __future__ import annotations

import pandas as pd
import pytest
from batch_helpers import POLL, batch_lines

from llm_magics.core.batch import BatchJob, submit_requests
from llm_magics.pandas import register
from llm_magics.pandas.plan import build_plan


def batch_apply(df: pd.DataFrame, template: str, **options) -> BatchJob:
    """Exactly what the accessor's batch mode does with its plan."""
    plan = build_plan(df, template, system=None, schema=None, mode="async", cache=False,
                      errors_policy="coerce", options=options)
    return submit_requests(plan.requests, plan.endpoint, plan.settings, use_cache=plan.use_cache,
                           index_labels=list(plan.index), finalize=plan.finalize,
                           metadata={"source": plan.title})


@pytest.fixture(autouse=True)
def accessor() -> None:
    register()


def test_batch_results_are_index_aligned_like_async_mode(llm):
    df = pd.DataFrame({"text": ["Translate chat", None, "Translate chien", "STATUS:400 no",
                                "Translate chat"]}, index=[30, 10, 20, 50, 40])
    job = batch_apply(df, "{text}")
    assert job.index_labels == [30, 10, 20, 50, 40]
    from_batch = job.wait(poll=POLL).results()
    assert batch_lines(llm) == 3  # "chat" twice is one line, the missing row sends nothing

    from_async = df.llm.apply("{text}", cache=False, progress=False)
    pd.testing.assert_series_equal(from_batch, from_async)
    assert list(from_batch.index) == [30, 10, 20, 50, 40]
    assert from_batch.isna().tolist() == [False, True, False, True, False]
    [row_error] = from_batch.attrs["llm_errors"]
    assert row_error.label == 50 and row_error.error.status_code == 400
