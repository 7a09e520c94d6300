"""notebooks/batch.ipynb runs top to bottom in a real kernel against the simulator.

The kernel gets the simulator through ``OPENAI_BASE_URL``/``OPENAI_API_KEY``
and its own job store and cache. (That the tracker advances by itself is
tested in-process in ``test_batch_tracker``: nbclient drops widget messages
sent from a background thread after their cell has finished.)
"""

from __future__ import annotations

import re

import pytest

from llm_magics.server.sim import expected_answer
from tests.support.notebooks import WIDGET, by_tag, execute, text_of
from tests.support.sim import Simulator


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    with Simulator(batch_step_s=0.05) as sim:
        nb = execute("batch.ipynb", tmp_path_factory.mktemp("batch-nb"),
                     OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY="sk-test")
        yield by_tag(nb), sim.stats


def test_every_cell_ran_without_an_error(executed):
    cells, _ = executed
    for tag, cell in cells.items():
        assert not [o for o in cell.outputs if o.output_type == "error"], tag


def test_submit_returns_a_job_and_the_tracker_is_a_live_widget(executed):
    cells, _ = executed
    job_id = re.search(r"<BatchJob (job_\w+) validating>", text_of(cells["submit"])).group(1)
    [shown] = [o for o in cells["tracker"].outputs if WIDGET in o.get("data", {})]
    assert f"BatchTracker({job_id}" in shown.data["text/plain"]


def test_results_are_the_models_answers_in_input_order(executed):
    cells, _ = executed
    lines = text_of(cells["results"]).splitlines()
    words = ["cat", "dog", "bird", "fish", "cat"]
    assert lines == [
        f"{w}: " + expected_answer({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": f"Translate to French: {w}"}]}) for w in words]


def test_cost_is_half_the_sync_price(executed):
    cells, _ = executed
    out = text_of(cells["cost"])
    assert "completed · 4/4 done, 0 failed" in out and "(50%)" in out


def test_dataframe_rows_and_the_job_list(executed):
    cells, _ = executed
    assert "3 answers, 0 errors, 1 empty" in text_of(cells["df-results"])
    listing = text_of(cells["list"])
    assert listing.count("completed") == 2 and "gpt-4o-mini" in listing
    assert text_of(cells["restart"]).rstrip().endswith("completed> True")


def test_a_refused_prompt_is_an_error_value(executed):
    cells, stats = executed
    assert text_of(cells["errors"]).splitlines()[:2] == ["fine", "InvalidRequestError 400"]
    # 4 distinct words + 3 reviews + 2 mixed; nothing went through the sync endpoint
    assert stats["batches"]["lines"] == 9 and stats["batches"]["created"] == 3
    assert stats["chat_requests"] == 0
