"""``df.llm.apply(..., mode="batch")`` gives what async mode gives, index-aligned.

The accessor hands its plan to the core's batch backend like any other mode;
this pins that the batch result is index-aligned exactly like the async one.
"""

from __future__ import annotations

import pandas as pd
import pytest
from batch_helpers import POLL, batch_lines

from llm_magics.core.batch import BatchJob
from llm_magics.pandas import register


def batch_apply(df: pd.DataFrame, template: str, **options) -> BatchJob:
    job = df.llm.apply(template, mode="batch", cache=False, progress=False, **options)
    assert isinstance(job, BatchJob)  # a batch returns its handle at once
    return job


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
