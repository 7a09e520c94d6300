"""A job's state from its batches: the slowest running batch, else what its failures say."""

from __future__ import annotations

import time

import pytest

from llm_magics.core.batch.summary import JobSummary, format_money, job_state
from llm_magics.core.jobstore import BatchRecord


def b(batch_id: str, status: str, fetched: bool | None = None) -> BatchRecord:
    done = status in ("completed", "failed", "expired", "cancelled")
    return BatchRecord(batch_id, status, job_id="j", seq=0, input_file_id="f",
                       fetched=done if fetched is None else fetched)


@pytest.mark.parametrize(("batches", "failed", "state"), [
    ([b("a", "validating"), b("b", "in_progress")], {}, "validating"),
    ([b("a", "finalizing"), b("b", "in_progress")], {}, "in_progress"),
    ([b("a", "in_progress"), b("b", "cancelling")], {}, "cancelling"),
    ([b("a", "completed", fetched=False)], {}, "finalizing"),  # ended, not downloaded yet
    ([b("a", "completed"), b("b", "completed")], {}, "completed"),
    ([b("a", "completed")], {"a": 2}, "completed"),  # some lines refused: still completed
    ([b("a", "expired"), b("b", "completed")], {"a": 3}, "expired"),
    ([b("a", "expired"), b("b", "failed")], {"a": 3, "b": 1}, "failed"),
    ([b("a", "cancelled")], {"a": 1}, "cancelled"),
    ([b("a", "expired"), b("b", "completed")], {"a": 0}, "completed"),  # retried: all answered
    ([], {None: 2}, "failed"),  # never sent
])
def test_job_state(batches, failed, state):
    assert job_state(batches, failed) == state


def test_unsent_lines_mean_submitting():
    assert job_state([], {}, unsent=3) == "submitting"


def summary(**kw) -> JobSummary:
    base = dict(id="j", state="completed", total=10, completed=8, failed=2, rows=12, cached=1,
                batches=1, model="gpt-4o-mini", base_url="u", created_at=time.time() - 75,
                ended_at=None, cost_usd=0.25, sync_cost_usd=0.5)
    return JobSummary(**{**base, **kw})


def test_saving_progress_and_one_line():
    s = summary()
    assert s.saving_usd == pytest.approx(0.25) and s.progress == 1.0 and s.done
    line = s.describe()
    assert line.startswith("j completed · 8/10 done, 2 failed · 1m1")
    assert "1 cached" in line and "$0.2500 batch" in line and "saved $0.2500 vs sync" in line


def test_an_unknown_price_is_not_free():
    s = summary(cost_usd=None, sync_cost_usd=None)
    assert s.saving_usd is None and "$? batch" in s.describe()
    assert format_money(None) == "$?" and format_money(0.000027) == "$0.000027"
    assert format_money(12.5) == "$12.5000"
