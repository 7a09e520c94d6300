"""notebooks/dataframe.ipynb runs top to bottom in a real kernel against the simulator.

The kernel finds the simulator through its environment (``OPENAI_BASE_URL``,
``OPENAI_API_KEY``), like a user's notebook finds a real endpoint.
"""

from __future__ import annotations

import pytest

from llm_magics.server.sim import expected_answer
from tests.support.notebooks import WIDGET, by_tag, execute, text_of
from tests.support.sim import Simulator


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    with Simulator() as sim:
        nb = execute("dataframe.ipynb", tmp_path_factory.mktemp("nb"),
                     OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY="sk-test")
        yield by_tag(nb), sim.stats, nb.metadata


def test_notebook_cells_all_ran_without_errors(executed):
    cells, _, _ = executed
    for tag, cell in cells.items():
        assert not [o for o in cell.outputs if o.output_type == "error"], tag


def test_estimate_counts_distinct_prompts_before_any_call(executed):
    cells, _, _ = executed
    assert "6 rows on gpt-4o-mini: 4 calls to send (4 distinct, 0 cached, 1 skipped)" in text_of(
        cells["estimate"])


def test_apply_shows_a_progress_widget_and_fills_the_column(executed):
    cells, _, _ = executed
    assert any(WIDGET in getattr(o, "data", {}) for o in cells["apply"].outputs)
    prompt = "Summarise in five words: Boils fast, a bit loud."
    answer = expected_answer({"model": "gpt-4o-mini",
                              "messages": [{"role": "user", "content": prompt}]})
    assert answer[:20] in text_of(cells["apply"])


def test_typo_and_failed_rows_are_reported(executed):
    cells, _, _ = executed
    typo = text_of(cells["typo"])
    assert "{text}" in typo and "'product', 'review'" in typo
    failed = text_of(cells["errors"])
    # the missing answer is pandas' missing value: nan from pandas 3 on, None before
    assert any(f"['fine', {na}, 'also fine']" in failed for na in ("nan", "None"))
    assert "refused the request" in failed


def test_schema_gives_typed_columns(executed):
    cells, _, _ = executed
    assert "'score': dtype('float64')" in text_of(cells["schema"])


def test_background_job_finishes_and_a_rerun_sends_nothing(executed):
    cells, stats, _ = executed
    assert "<FanoutJob" in text_of(cells["background"])
    assert "done 6 / 6" in text_of(cells["result"])
    assert "identical: True" in text_of(cells["rerun"])
    # 4 summaries + 4 labels + 3 refusal demo + 4 translations; the typo and re-run send none
    assert stats["chat_requests"] == 15


def test_widget_updates_from_the_event_loop_thread_reach_the_frontend(executed):
    _, _, metadata = executed
    state = metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    bars = [m["state"] for m in state.values() if m["model_name"] == "IntProgressModel"]
    labels = [m["state"]["value"] for m in state.values() if m["model_name"] == "HTMLModel"]
    assert {"value": 6, "max": 6, "bar_style": "success"}.items() <= bars[0].items()
    assert any("6/6 rows" in text and "done" in text for text in labels)
