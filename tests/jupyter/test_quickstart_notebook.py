"""``notebooks/quickstart.ipynb`` executed by nbclient in a real kernel, against the simulator.

The notebook holds no simulator directives (it must also run on the embedded
local model), so the expected answers come from the simulator's own
``expected_answer`` for the exact requests the cells send.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from jupyter_helpers import API_KEY
from nbclient import NotebookClient

from llm_magics.core.endpoint import HOSTED_DEFAULT_MODEL
from llm_magics.server.sim import Simulator, expected_answer

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
WIDGET = "application/vnd.jupyter.widget-view+json"


def answer(sim: Simulator, prompt: str, **params) -> str:
    body = {"model": HOSTED_DEFAULT_MODEL, "messages": [{"role": "user", "content": prompt}],
            **params}
    return expected_answer(body, sim.config)


def code_cell(nb, starts_with: str):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(starts_with)]
    return cell


def stdout(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    state = tmp_path_factory.mktemp("quickstart")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_MAGICS_", "OPENAI_"))}
    with Simulator(token_latency_s=0.005) as sim:
        env.update(PYTHONPATH=str(REPO), OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY=API_KEY,
                   LLM_MAGICS_CACHE_PATH=str(state / "cache.sqlite"),
                   LLM_MAGICS_JOBSTORE_PATH=str(state / "jobs.sqlite"))
        client = NotebookClient(nb, kernel_name="python3", timeout=60,
                                resources={"metadata": {"path": str(state)}})
        client.execute(env=env, cwd=str(state))
        yield nb, sim


def test_notebook_source_is_saved_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    text = NOTEBOOK.read_text()
    for directive in ("ECHO:", "STATUS:", "TOKENS:", "SLEEP:", "sim-"):
        assert directive not in text  # it must run unchanged on a real model


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
    assert out.data["text/plain"] == answer(sim, prompt, max_tokens=64)
    assert out.data["text/html"].startswith("<p>")


def test_interpolated_cell_stores_its_response_under_out(executed):
    nb, sim = executed
    expected = answer(sim, "Explain backpressure in streaming systems in two sentences.",
                      max_tokens=80)
    assert stdout(code_cell(nb, "print(summary.text)")) == f"{expected}\nTrue\n"


def test_stream_cell_output_ends_with_the_full_text_and_the_next_cell_sees_it(executed):
    nb, sim = executed
    expected = answer(sim, "Write a haiku about backpressure in streaming systems.",
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
        f"{w}: {answer(sim, f'Define {w} in one short sentence.', max_tokens=40)}" for w in words
    ]


def test_no_cell_failed(executed):
    nb, _ = executed
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
            assert not [o for o in cell.outputs if o.get("name") == "stderr"], cell.source


def test_dataframe_cell_fills_a_column_aligned_to_the_index(executed):
    nb, sim = executed
    (out,) = code_cell(nb, "import pandas as pd").outputs
    table = out.data["text/plain"]
    for label, word in zip("abc", ["cache", "queue", "retry"], strict=True):
        expected = answer(sim, f"What does {word} mean in computing? One sentence.",
                          max_tokens=40)
        row = next(line for line in table.splitlines() if line.startswith(label + " "))
        assert word in row and expected[:20] in row
