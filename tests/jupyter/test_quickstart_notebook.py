"""``notebooks/quickstart.ipynb`` executed by nbclient in a real kernel, against the simulator.

The notebook holds no simulator directives (it must also run on the embedded
local model), so the expected answers come from the simulator's own
``expected_answer`` for the exact requests the cells send.
"""

from __future__ import annotations

import json

import pytest
from jupyter_helpers import API_KEY

from tests.support.notebooks import WIDGET, code_cell, execute, failed_cells, saved_clean, stdout
from tests.support.sim import Simulator, hosted_answer

NOTEBOOK = "quickstart.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    with Simulator(token_latency_s=0.005) as sim:
        nb = execute(NOTEBOOK, tmp_path_factory.mktemp("quickstart"),
                     OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY=API_KEY)
        yield nb, sim


def test_notebook_source_is_saved_without_outputs():
    saved_clean(NOTEBOOK)  # it must run unchanged on a real model


def test_config_cell_shows_the_endpoint_with_the_key_masked(executed):
    nb, sim = executed
    table = code_cell(nb, "%llm_config").outputs[0].data["text/plain"]
    assert sim.base_url in table and "sk-...3456" in table
    assert API_KEY not in json.dumps(nb)


def test_blocking_cell_renders_the_answer(executed):
    nb, sim = executed
    cell = code_cell(nb, "%%llm --max-tokens 64")
    prompt = cell.source.split("\n", 1)[1]
    (out,) = cell.outputs
    assert out.data["text/plain"] == hosted_answer(sim, prompt, max_tokens=64)
    assert out.data["text/html"].startswith("<p>")


def test_interpolated_cell_stores_its_response_under_out(executed):
    nb, sim = executed
    expected = hosted_answer(sim, "Explain backpressure in streaming systems in two sentences.",
                             max_tokens=80)
    assert stdout(code_cell(nb, "print(summary.text)")) == f"{expected}\nTrue\n"


def test_stream_cell_output_ends_with_the_full_text_and_the_next_cell_sees_it(executed):
    nb, sim = executed
    expected = hosted_answer(sim, "Write a haiku about backpressure in streaming systems.",
                             max_tokens=80)
    (out,) = code_cell(nb, "%%llm_stream").outputs
    assert WIDGET in out.data  # the live widget for front ends that render it
    assert out.data["text/plain"] == expected  # the final text for everything else
    assert stdout(code_cell(nb, "print(_llm.text)")) == expected + "\n"


def test_map_cell_prints_one_answer_per_prompt(executed):
    nb, sim = executed
    lines = stdout(code_cell(nb, "import llm_magics")).splitlines()
    words = ["latency", "throughput", "jitter"]
    assert lines == [
        f"{w}: {hosted_answer(sim, f'Define {w} in one short sentence.', max_tokens=40)}"
        for w in words
    ]


def test_no_cell_failed(executed):
    nb, _ = executed
    assert failed_cells(nb) == []


def test_dataframe_cell_fills_a_column_aligned_to_the_index(executed):
    nb, sim = executed
    (out,) = code_cell(nb, "import pandas as pd").outputs
    table = out.data["text/plain"]
    for label, word in zip("abc", ["cache", "queue", "retry"], strict=True):
        expected = hosted_answer(sim, f"What does {word} mean in computing? One sentence.",
                                 max_tokens=40)
        row = next(line for line in table.splitlines() if line.startswith(label + " "))
        assert word in row and expected[:20] in row
