"""``notebooks/streaming.ipynb`` executed by nbclient in a real kernel, against the simulator.

The notebook has no simulator directives (it must also run on a real model), so
the expected text comes from the simulator's own ``expected_answer`` for the
exact requests the cells send. Widgets stay on (the kernel is real), so the
stream cells return at once and the following cells must wait for them.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.support.notebooks import WIDGET, code_cell, execute, failed_cells, saved_clean, stdout
from tests.support.sim import Simulator, hosted_answer

NOTEBOOK = "streaming.ipynb"
API_KEY = "sk-test-stream-nb-123456"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    with Simulator(token_latency_s=0.01) as sim:  # slow enough that the stream is still live
        nb = execute(NOTEBOOK, tmp_path_factory.mktemp("streaming"),
                     OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY=API_KEY)
        yield nb, sim


def test_notebook_is_saved_clean_and_runs_unchanged_on_a_real_model():
    nb = saved_clean(NOTEBOOK)  # it must run unchanged on a real model
    assert nb.cells[-1].cell_type == "code" and "_llm.text" in nb.cells[-1].source


def test_no_cell_failed(executed):
    nb, _ = executed
    assert failed_cells(nb) == []


def test_stream_magic_shows_a_widget_and_the_next_cell_gets_the_full_answer(executed):
    nb, sim = executed
    expected = hosted_answer(sim, "Write a haiku about backpressure in streaming systems.",
                             max_tokens=80)
    (out,) = code_cell(nb, "%%llm_stream --max-tokens 80").outputs
    assert WIDGET in out.data  # live widget for front ends that render it
    assert out.data["text/plain"] == expected  # final text saved for everything else
    printed = stdout(code_cell(nb, "print(_llm.text)\nprint(_llm.usage")).splitlines()
    assert printed[0] == expected
    assert re.fullmatch(r"\d+ tokens", printed[1]) and int(printed[1].split()[0]) > 0


def test_stream_loop_prints_every_delta_then_the_stats(executed):
    nb, sim = executed
    expected = hosted_answer(sim, "Write a limerick about retries.", max_tokens=60)
    lines = stdout(code_cell(nb, "import llm_magics")).splitlines()
    assert lines[0] == expected
    m = re.fullmatch(r"(\d+) chunks, first token after (\d+\.\d\d)s", lines[1])
    assert m and int(m[1]) > 1  # it really streamed, more than one delta


def test_last_cell_waits_for_the_stream_and_sees_out_var(executed):
    nb, sim = executed
    expected = hosted_answer(sim, "Write four short lines about rate limits.", max_tokens=60)
    (out,) = code_cell(nb, "%%llm_stream --max-tokens 60 --out lines").outputs
    assert out.data["text/plain"] == expected
    assert stdout(nb.cells[-1]) == f"{expected}\nTrue\n"
    assert sim.stats["chat_streams"] == 3
    assert API_KEY not in json.dumps(nb)
