"""``%llm_history --by cell`` in a notebook executed by nbclient in a real kernel.

The kernel talks to the simulator over HTTP; each cell prints what its own
calls cost (from the ``Response`` objects it got), and the call log must put
the same spend on the same execution counts.
"""

from __future__ import annotations

import json

import nbformat.v4 as nbf
import pytest

from tests.support.notebooks import failed_cells, run, stdout, text_of
from tests.support.sim import Simulator

KEY = "sk-notebook-history-0123456789abcdef"

CELLS = [
    "%load_ext llm_magics\nimport json, llm_magics\nspent = {}",
    "%%llm --out one\nName a colour.",
    "rs = llm_magics.map(['p1', 'p2', 'p3', 'p1'])\n"
    "spent = {'map': sum(r.cost_usd for r in rs[:3]), 'one': one.cost_usd}",
    "again = llm_magics.map(['p1', 'p2'])  # both from the cache: free",
    "%llm_history --by cell",
    "%llm_history --text",
    "df = llm_magics.history()\n"
    "cells = df.groupby('cell')\n"
    "print(json.dumps({'spent': spent, 'faces': sorted(set(df.face)),\n"
    "    'by_cell': {str(c): float(g.cost_usd[~g.cached].sum()) for c, g in cells},\n"
    "    'calls': {str(c): len(g) for c, g in cells}}))",
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    with Simulator(answer_tokens=6) as sim:
        nb = nbf.new_notebook(cells=[nbf.new_code_cell(src) for src in CELLS])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        state = tmp_path_factory.mktemp("nb")
        yield run(nb, state, OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY=KEY,
                  LLM_MAGICS_MODEL="gpt-4o-mini"), state


def test_cells_ran_without_errors(executed):
    nb, _ = executed
    assert not failed_cells(nb)


def test_spend_is_attributed_to_the_cells_that_made_the_calls(executed):
    nb, _ = executed
    llm_cell, map_cell, cached_cell = (nb.cells[i].execution_count for i in (1, 2, 3))
    report = json.loads(stdout(nb.cells[-1]))
    spent = report["spent"]
    assert spent["one"] > 0 and spent["map"] > 0
    assert report["by_cell"] == {str(llm_cell): pytest.approx(spent["one"]),
                                 str(map_cell): pytest.approx(spent["map"]),
                                 str(cached_cell): 0.0}
    assert report["calls"] == {str(llm_cell): 1, str(map_cell): 3, str(cached_cell): 2}
    assert report["faces"] == ["magic", "map"]


def test_the_magic_shows_a_summary_row_per_cell(executed):
    nb, _ = executed
    llm_cell, map_cell, cached_cell = (nb.cells[i].execution_count for i in (1, 2, 3))
    table = nb.cells[4]
    html = "".join(o.data.get("text/html", "") for o in table.outputs
                   if o.output_type == "display_data")
    assert "6 calls, by cell" in html
    lines = text_of(table).splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows[str(llm_cell)][1:3] == ["1", "0"]
    assert rows[str(map_cell)][1:4] == ["3", "0", "0%"]
    assert rows[str(cached_cell)][1:4] == ["2", "0", "100%"]
    assert rows["total"][1] == "6"


def test_text_lists_the_calls_with_their_prompts(executed):
    nb, _ = executed
    shown = text_of(nb.cells[5])
    assert "Name a colour." in shown and '"p2"' in shown and "cached" in shown


def test_the_key_is_not_in_the_log_file(executed):
    _, state = executed
    for path in state.iterdir():
        if path.name.startswith("history.sqlite"):
            assert KEY.encode() not in path.read_bytes()
