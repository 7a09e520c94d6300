"""Progress: tracker numbers, the FanoutProgress widget, the tqdm fallback, and silence."""

from __future__ import annotations

import io

import pytest

from llm_magics.core.budget import Budget
from llm_magics.core.call_stats import CallStats
from llm_magics.core.progress import (
    FanoutTracker,
    TqdmProgress,
    in_notebook,
    open_progress,
    summary,
)
from llm_magics.core.types import Request, Response, Usage
from llm_magics.errors import ServerError
from llm_magics.jupyter import progress


def busy_tracker() -> FanoutTracker:
    stats = CallStats(retries=2, rate_limited=1, cached=1, prompt_tokens=100,
                      completion_tokens=50, cost_usd=0.0012)
    tracker = FanoutTracker(total=10, stats=stats, title="llm.apply('x')")
    tracker.record(object(), live=False)  # cached row
    tracker.record(object(), live=True)
    tracker.record(ServerError("503"), live=True)
    return tracker


def test_tracker_counts_rows_errors_and_reads_call_stats():
    snap = busy_tracker().snapshot()
    assert (snap["done"], snap["total"], snap["errors"]) == (3, 10, 1)
    assert (snap["retries"], snap["rate_limited"], snap["cached"]) == (2, 1, 1)
    assert snap["tokens"] == 150 and snap["cost_usd"] == 0.0012
    assert snap["rate"] > 0 and snap["eta_s"] == pytest.approx(7 / snap["rate"])


def test_rate_ignores_rows_that_needed_no_call_and_eta_stops_when_finished():
    tracker = FanoutTracker(total=5)
    for _ in range(5):
        tracker.record(None, live=False)
    assert tracker.snapshot()["rate"] is None and tracker.snapshot()["eta_s"] is None
    tracker.finish("done")
    assert tracker.snapshot()["state"] == "done"


def test_summary_line_shows_every_counter():
    line = summary(busy_tracker().snapshot())
    for part in ("3/10 rows", "rows/s", "ETA", "150 tokens", "$0.0012", "1 errors",
                 "2 retries", "1x429", "1 cached"):
        assert part in line


def test_a_run_with_a_deadline_shows_the_time_left_and_what_changed():
    import time

    tracker = FanoutTracker(total=4, deadline_at=time.monotonic() + 95)
    tracker.note = "batch b1 expired after 1/4 answers (3s): 3 rows sent async"
    snap = tracker.snapshot()
    assert 90 < snap["deadline_left_s"] <= 95
    assert "deadline in 1m3" in summary(snap) and "3 rows sent async" in summary(snap)
    widget = progress.FanoutProgress(total=4)
    widget.update(snap)
    assert widget.deadline_left_s == snap["deadline_left_s"]
    assert "deadline in 1m3" in widget._label.value and "sent async" in widget._label.value
    out = io.StringIO()
    bar = TqdmProgress(4, "x", file=out)
    bar.finish(snap)
    assert "deadline in 1m3" in out.getvalue() and "sent async" in out.getvalue()
    tracker.finish("done")
    assert tracker.snapshot()["deadline_left_s"] is None  # a finished run counts down no more
    stale = FanoutTracker(total=1, deadline_at=time.monotonic() - 5).snapshot()
    assert "deadline passed 5s ago" in summary(stale)


def test_widget_shows_the_snapshot_and_colours_the_end_state():
    widget = progress.FanoutProgress(total=10, title="run <1>")
    tracker = busy_tracker()
    widget.update(tracker.snapshot())
    assert widget._bar.value == 3 and widget._bar.max == 10
    assert "3/10 rows" in widget._label.value and "run &lt;1&gt;" in widget._label.value
    assert repr(widget) == "FanoutProgress(done=3, total=10, errors=1, state='running')"
    tracker.finish("cancelled")
    widget.finish(tracker.snapshot())
    assert widget._bar.bar_style == "warning" and "cancelled" in widget._label.value
    widget.done = 99
    assert widget.done == 10  # validated: never more than total


def test_widget_stop_button_calls_back():
    stopped = []
    widget = progress.FanoutProgress(total=2, on_stop=lambda: stopped.append(True))
    button = widget.children[-1]
    button.click()
    assert stopped == [True]
    widget.finish({"done": 2, "total": 2, "state": "done"})
    assert button.disabled and widget._bar.bar_style == "success"


def test_tqdm_fallback_writes_counts_to_its_file():
    out = io.StringIO()
    bar = TqdmProgress(10, "job", file=out)
    bar.finish(busy_tracker().snapshot())
    text = out.getvalue()
    assert "3/10" in text and "1 err" in text and "1x429" in text and "150 tok" in text


def test_outside_a_kernel_progress_is_tqdm_and_disabled_progress_is_nothing():
    assert not in_notebook()
    assert open_progress(FanoutTracker(1), enabled=False) is None
    reporter = open_progress(FanoutTracker(1))
    assert isinstance(reporter, TqdmProgress)
    reporter.bar.close()


def test_a_capped_run_shows_spent_of_cap_and_the_projected_total():
    budget = Budget(1.0, prices={"m": (1e5, 0.0)})  # $0.10 a prompt token
    call = Request([{"role": "user", "content": ""}], "m", "u")
    # A cached answer's old cost counts in the call stats, but this run did not pay it.
    tracker = FanoutTracker(total=10, stats=CallStats(cost_usd=0.5), budget=budget)
    for _ in range(2):
        reserved = budget.try_reserve(call)
        budget.settle(reserved, call, Response("ok", "m", usage=Usage(1, 0)))
        tracker.record(object(), live=True)
    snap = tracker.snapshot()
    assert (snap["cap_usd"], snap["spent_usd"]) == (1.0, pytest.approx(0.2))
    assert snap["projected_usd"] == pytest.approx(0.2 + 0.1 * 8)  # $0.10 a row, 8 rows left
    assert "$0.2000 of $1.0000 cap (~$1.0000 projected)" in summary(snap)
    widget = progress.FanoutProgress(total=10)
    widget.update(snap)
    assert widget.cap_usd == 1.0 and "$0.2000 of $1.0000 cap" in widget._label.value
    tracker.finish("done")
    assert "projected" not in summary(tracker.snapshot())  # a finished run has no projection


def test_an_uncapped_run_projects_only_once_a_priced_row_was_sent():
    tracker = FanoutTracker(total=4, stats=CallStats())
    assert tracker.snapshot()["projected_usd"] is None and tracker.snapshot()["cap_usd"] is None
    tracker.record(object(), live=True)  # an answer without a price: nothing to project from
    assert tracker.snapshot()["projected_usd"] is None and "cap" not in summary(tracker.snapshot())
