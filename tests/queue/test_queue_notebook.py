"""notebooks/queue.ipynb runs top to bottom in a real kernel with Redis, a worker, the simulator.

The kernel finds Redis and the simulator through its environment, like a user's
notebook; it has no API key (only the worker does), which is the point.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from queue_helpers import FAST, WORKER_KEY, worker_env

from llm_magics.server.sim import expected_answer
from tests.support.notebooks import by_tag, execute, text_of
from tests.support.queue_procs import WorkerProcess
from tests.support.sim import Simulator


@pytest.fixture(scope="module")
def executed(redis_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queue-nb")
    with Simulator(api_key=WORKER_KEY) as sim, WorkerProcess(
        redis_server.url, concurrency=8, config=FAST, isolate=True,
        env=worker_env(sim.base_url, tmp / "worker.sqlite"), log_path=tmp / "worker.log",
        name="w0-notebook@localhost",
    ):
        yield run_notebook(redis_server.url, sim, tmp)


def run_notebook(redis_url: str, sim: Simulator, tmp: Path):
    nb = execute("queue.ipynb", tmp, LLM_MAGICS_REDIS_URL=redis_url,
                 OPENAI_BASE_URL=sim.base_url, LLM_MAGICS_QUEUE_POLL_INTERVAL="0.05")
    return by_tag(nb), sim.stats


def test_every_cell_runs_and_the_kernel_holds_no_key(executed):
    cells, _ = executed
    for tag, cell in cells.items():
        assert not [o for o in cell.outputs if o.output_type == "error"], text_of(cell)
        assert WORKER_KEY not in text_of(cell), tag
    assert "API key in this kernel: None" in text_of(cells["setup"])
    assert "workers: ['w0-" in text_of(cells["workers"])


def test_the_fanout_ran_on_the_worker_and_the_rerun_was_free(executed):
    cells, stats = executed
    assert "40 answers, 0 from the cache, 0 failed" in text_of(cells["fanout"])
    prompt = "Summarise in five words: Review 0: the kettle boils fast but is a bit loud."
    answer = expected_answer({"model": "sim-small",
                              "messages": [{"role": "user", "content": prompt}]})
    assert answer in text_of(cells["fanout"])
    assert "re-run: 40 of 40 from the cache" in text_of(cells["rerun"])
    # 40 rows + 1 interactive; the DataFrame's 5 rows repeat cached prompts: nothing new.
    assert stats["chat_requests"] == 41


def test_the_dataframe_and_the_redis_error_are_shown(executed):
    cells, _ = executed
    assert "r4" in text_of(cells["dataframe"]) and "summary" in text_of(cells["dataframe"])
    errors = text_of(cells["errors"])
    assert "Cannot reach Redis at redis://127.0.0.1:1/0" in errors and "redis-server" in errors
