"""background=True handles, graceful and hard stops, and resuming from the cache."""

from __future__ import annotations

import os
import signal
import threading
import time

import pandas as pd
import pytest

from llm_magics import errors
from llm_magics.core.engine import get_engine
from llm_magics.core.jobs import FanoutJob
from llm_magics.core.settings import resolve
from tests.support.waiting import wait_until

ROWS = 40


def words(n: int = ROWS) -> pd.DataFrame:
    return pd.DataFrame({"w": [f"word{i}" for i in range(n)]}, index=[f"r{i}" for i in
                                                                      range(n)][::-1])



def cached_rows() -> int:
    return len(get_engine().cache_for(resolve(), None))


def test_background_returns_at_once_and_result_matches_a_foreground_run(llm):
    llm.configure(latency_s=0.5)
    df = words(12)
    job = df.llm.apply("Define {w}", background=True, concurrency=4, progress=False)
    assert isinstance(job, FanoutJob)
    assert not job.done()  # it returned at once: three rounds of 0.5 s are still to go
    wait_until(lambda: job.progress["done"] >= 4)
    assert 4 <= job.progress["done"] < 12 and job.progress["total"] == 12
    result = job.results(timeout=10)
    assert job.done() and job.progress["state"] == "done" and job.progress["done"] == 12
    assert job.stats.completed == 12 and "done: 12/12 rows" in repr(job)
    again = df.llm.apply("Define {w}", progress=False)  # from the cache, same values
    pd.testing.assert_series_equal(result, again)
    assert llm.stats["chat_requests"] == 12


def test_cancel_then_rerun_makes_exactly_one_call_per_row(llm):
    llm.configure(latency_s=0.03)
    df = words()
    job = df.llm.apply("Define {w}", background=True, concurrency=4, progress=False)
    wait_until(lambda: llm.stats["chat_requests"] >= ROWS // 2)
    assert job.cancel() is True
    assert job.wait(timeout=10).done()
    with pytest.raises(errors.CancelledError, match="run the same call again"):
        job.results()
    first = llm.stats["chat_requests"]
    assert ROWS // 2 <= first < ROWS
    assert cached_rows() == first  # in-flight calls finished into the cache
    assert job.progress["state"] == "cancelled" and job.progress["done"] == first

    out = df.llm.apply("Define {w}", concurrency=4, progress=False)
    assert llm.stats["chat_requests"] == ROWS  # first + second run == rows
    assert out.notna().all() and out.index.equals(df.index)


def test_hard_cancel_abandons_in_flight_calls_and_rerun_sends_only_unfinished_rows(llm):
    llm.configure(latency_s=0.05)
    df = words()
    job = df.llm.apply("Define {w}", background=True, concurrency=4, progress=False)
    wait_until(lambda: job.progress["done"] >= ROWS // 2)
    job.cancel(now=True)
    assert job.done()
    time.sleep(0.2)  # abandoned calls may still be on the wire
    wait_until(lambda: llm.stats["in_flight"] == 0)
    first = llm.stats["chat_requests"]
    kept = cached_rows()
    assert ROWS // 2 <= kept < ROWS and 0 <= first - kept <= 4  # at most `concurrency` lost
    df.llm.apply("Define {w}", concurrency=4, progress=False)
    assert llm.stats["chat_requests"] - first == ROWS - kept


@pytest.mark.skipif(os.name != "posix", reason="needs signal.pthread_kill")
def test_keyboard_interrupt_stops_a_foreground_apply_and_rerun_resumes(llm):
    llm.configure(latency_s=0.05)
    df = words()
    main = threading.main_thread().ident

    def interrupt() -> None:
        wait_until(lambda: llm.stats["chat_requests"] >= ROWS // 2)
        signal.pthread_kill(main, signal.SIGINT)  # what a kernel interrupt does

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        df.llm.apply("Define {w}", concurrency=4, progress=False)
    first = llm.stats["chat_requests"]
    kept = cached_rows()
    assert 0 < kept < ROWS and first - kept <= 4
    out = df.llm.apply("Define {w}", concurrency=4, progress=False)
    assert llm.stats["chat_requests"] - first == ROWS - kept
    assert out.notna().all()


def test_background_errors_raise_from_result_in_raise_mode(llm):
    job = pd.DataFrame({"p": ["ECHO: a", "STATUS:400 b"]}).llm.apply(
        "{p}", background=True, errors="raise", progress=False)
    with pytest.raises(errors.InvalidRequestError, match="1 of 2 rows failed"):
        job.results(timeout=10)
    assert job.progress["errors"] == 1


def test_cancel_after_the_end_is_a_no_op(llm):
    job = words(3).llm.apply("{w}", background=True, progress=False)
    job.results(timeout=10)
    assert job.cancel() is False and job.results().notna().all()
