"""``notebooks/streaming.ipynb`` executed by nbclient in a real kernel, against the simulator.

The notebook has no simulator directives (it must also run on a real model), so
the expected text comes from the simulator's own ``expected_answer`` for the
exact requests the cells send. Widgets stay on (the kernel is real), so the
stream cells return at once and the following cells must wait for them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from llm_magics.core.endpoint import HOSTED_DEFAULT_MODEL
from llm_magics.server.sim import Simulator, expected_answer

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "streaming.ipynb"
API_KEY = "sk-test-stream-nb-123456"
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
    state = tmp_path_factory.mktemp("streaming")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_MAGICS_", "OPENAI_"))}
    with Simulator(token_latency_s=0.01) as sim:  # slow enough that the stream is still live
        env.update(PYTHONPATH=str(REPO), OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY=API_KEY,
                   LLM_MAGICS_CACHE_PATH=str(state / "cache.sqlite"),
                   LLM_MAGICS_JOBSTORE_PATH=str(state / "jobs.sqlite"))
        client = NotebookClient(nb, kernel_name="python3", timeout=60,
                                resources={"metadata": {"path": str(state)}})
        client.execute(env=env, cwd=str(state))
        yield nb, sim


def test_notebook_is_saved_clean_and_runs_unchanged_on_a_real_model():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    text = NOTEBOOK.read_text()
    for directive in ("ECHO:", "STATUS:", "TOKENS:", "SLEEP:", "sim-"):
        assert directive not in text
    assert nb.cells[-1].cell_type == "code" and "_llm.text" in nb.cells[-1].source


def test_no_cell_failed(executed):
    nb, _ = executed
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
            assert not [o for o in cell.outputs if o.get("name") == "stderr"], cell.source


def test_stream_magic_shows_a_widget_and_the_next_cell_gets_the_full_answer(executed):
    nb, sim = executed
    expected = answer(sim, "Write a haiku about backpressure in streaming systems.",
                      max_tokens=80)
    (out,) = code_cell(nb, "%%llm_stream --max-tokens 80").outputs
    assert WIDGET in out.data  # live widget for front ends that render it
    assert out.data["text/plain"] == expected  # final text saved for everything else
    printed = stdout(code_cell(nb, "print(_llm.text)\nprint(_llm.usage")).splitlines()
    assert printed[0] == expected
    assert re.fullmatch(r"\d+ tokens", printed[1]) and int(printed[1].split()[0]) > 0


def test_stream_loop_prints_every_delta_then_the_stats(executed):
    nb, sim = executed
    expected = answer(sim, "Write a limerick about retries.", max_tokens=60)
    lines = stdout(code_cell(nb, "import llm_magics")).splitlines()
    assert lines[0] == expected
    m = re.fullmatch(r"(\d+) chunks, first token after (\d+\.\d\d)s", lines[1])
    assert m and int(m[1]) > 1  # it really streamed, more than one delta


def test_last_cell_waits_for_the_stream_and_sees_out_var(executed):
    nb, sim = executed
    expected = answer(sim, "Write four short lines about rate limits.", max_tokens=60)
    (out,) = code_cell(nb, "%%llm_stream --max-tokens 60 --out lines").outputs
    assert out.data["text/plain"] == expected
    assert stdout(nb.cells[-1]) == f"{expected}\nTrue\n"
    assert sim.stats["chat_streams"] == 3
    assert API_KEY not in json.dumps(nb)
