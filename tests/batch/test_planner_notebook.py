"""notebooks/planner.ipynb runs top to bottom in a real kernel against the simulator.

The simulator's batches expire half-way through their lines, so both batch
cells show the switch: the expired batch's answers kept, the rest sent async,
every row answered. Its counters say what went where.
"""

from __future__ import annotations

import pytest

from tests.support.notebooks import by_tag, execute, failed_cells, saved_clean, text_of
from tests.support.sim import Simulator

DISTINCT = 5  # six rows, "cat" twice
FROM_BATCH = 2  # a batch of five lines expiring half-way answers two


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    with Simulator(batch_step_s=0.05, batch_expire_after_fraction=0.5) as sim:
        nb = execute("planner.ipynb", tmp_path_factory.mktemp("planner-nb"),
                     OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY="sk-test")
        yield nb, by_tag(nb), sim.stats


def test_saved_clean_and_every_cell_ran_without_an_error(executed):
    nb, _, _ = executed
    saved_clean("planner.ipynb")
    assert failed_cells(nb) == []


def test_the_plan_is_a_table_and_sends_nothing(executed):
    _, cells, _ = executed
    [shown] = [o for o in cells["plan"].outputs if "text/html" in o.get("data", {})]
    assert "<table>" in shown.data["text/html"] and "async ✔" in shown.data["text/html"]
    text = text_of(cells["plan-text"])
    assert "6 rows (0 cached, 5 calls" in text and "Choice: async" in text


def test_auto_sends_now_for_five_minutes_and_cached_rows_are_free(executed):
    _, cells, _ = executed
    assert "6 answers" in text_of(cells["auto-now"])
    assert text_of(cells["cached-plan"]).startswith("async 5 0 - every row is cached")


def test_auto_batches_for_two_days_and_expired_rows_arrive_async(executed):
    _, cells, _ = executed
    assert text_of(cells["auto-batch"]).startswith("batch - the deadline leaves room")
    out = text_of(cells["auto-batch-results"])
    assert "6 answers" in out
    assert f"expired after {FROM_BATCH}/{DISTINCT} answers" in out
    assert f"{DISTINCT - FROM_BATCH} rows sent async" in out


def test_a_batch_with_a_deadline_delivers_every_row_each_sent_once(executed):
    _, cells, stats = executed
    out = text_of(cells["deadline"])
    assert "6 answers" in out and "rows sent async" in out and "expired" in out
    assert stats["batches"]["lines"] == 2 * FROM_BATCH
    assert stats["chat_requests"] == DISTINCT + 2 * (DISTINCT - FROM_BATCH)
