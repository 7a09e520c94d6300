"""SIGKILL the gateway process mid-batch, start it again: the batch completes, no line lost or
run twice. The upstream simulator's request count is the witness.

The response cache is off (``--no-cache``) so only the per-line results table
can keep a finished line from running again.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from functools import partial
from pathlib import Path

from openai import OpenAI

from llm_magics.server.sim import SimConfig, expected_answer
from tests.support.batch_api import jsonl, line, start_batch, wait
from tests.support.gateway import GatewayProcess
from tests.support.sim import Simulator
from tests.support.sim import chat_body as user
from tests.support.waiting import wait_until

LINES = 24


def _requests(sim: Simulator) -> int:
    return sim.stats["chat_requests"]


def _freeze_between_lines(gateway: GatewayProcess, client: OpenAI, batch_id: str,
                          sim: Simulator) -> int:
    """SIGSTOP the gateway at a moment when every line it sent upstream is committed and none
    is in flight; return how many lines that is. A moment that turns out busy is let go."""
    while True:
        wait_until(partial(_one_more_answered, sim, _requests(sim)))
        committed = client.batches.retrieve(batch_id).request_counts.completed
        os.kill(gateway.pid, signal.SIGSTOP)
        stats = sim.stats
        if stats["chat_requests"] == committed and stats["in_flight"] == 0:
            return committed
        os.kill(gateway.pid, signal.SIGCONT)


def _one_more_answered(sim: Simulator, before: int) -> bool:
    stats = sim.stats
    return stats["chat_requests"] > before and stats["in_flight"] == 0


def test_kill_between_lines_then_restart_runs_each_line_once(sim: Simulator,
                                                             tmp_path: Path) -> None:
    # 120 rpm paces the lines 0.5 s apart, and the simulator answers in about a millisecond,
    # so a quiet moment (all sent lines answered and committed) comes after each line.
    args = ["--upstream", sim.base_url, "--state-dir", str(tmp_path), "--no-cache",
            "--rpm", "120", "--concurrency", "1"]
    bodies = {f"line-{i}": user(f"restart line {i}") for i in range(LINES)}
    with GatewayProcess(args) as gateway:
        client = OpenAI(base_url=gateway.base_url, api_key="k", max_retries=2, timeout=10)
        batch_id = start_batch(client, [line(cid, body) for cid, body in bodies.items()])
        wait_until(lambda: _requests(sim) >= 8)
        committed = _freeze_between_lines(gateway, client, batch_id, sim)
        gateway.kill()
        at_kill = _requests(sim)
        assert at_kill == committed  # nothing was on its way upstream when it died

        gateway.start()  # same state dir, same port
        batch, _ = wait(client, batch_id, timeout=60)
        outputs = jsonl(client, batch.output_file_id)
        client.close()
    assert batch.status == "completed"
    assert batch.request_counts.total == LINES
    assert (batch.request_counts.completed, batch.request_counts.failed) == (LINES, 0)
    assert 8 <= at_kill < LINES
    assert _requests(sim) == LINES  # no line run twice, none lost
    assert Counter(r["custom_id"] for r in outputs) == Counter(list(bodies))
    for row in outputs:
        text = row["response"]["body"]["choices"][0]["message"]["content"]
        assert text == expected_answer(bodies[row["custom_id"]], SimConfig())


def test_line_in_flight_at_the_kill_is_sent_again_but_recorded_once(sim: Simulator,
                                                                    tmp_path: Path) -> None:
    """Without an idempotency key upstream, an answer lost with the process must be asked
    again (at-least-once for in-flight lines); the output still holds each line once."""
    sim.configure(latency_s=0.4)
    args = ["--upstream", sim.base_url, "--state-dir", str(tmp_path), "--no-cache",
            "--concurrency", "2"]
    bodies = {f"line-{i}": user(f"in flight {i}") for i in range(8)}
    with GatewayProcess(args) as gateway:
        client = OpenAI(base_url=gateway.base_url, api_key="k", max_retries=2, timeout=10)
        batch_id = start_batch(client, [line(cid, body) for cid, body in bodies.items()])
        wait_until(lambda: sim.stats["in_flight"] == 2 and _requests(sim) >= 3)
        gateway.kill()
        lost = 2  # both calls in flight lose their answers with the process
        gateway.start()
        batch, _ = wait(client, batch_id, timeout=60)
        outputs = jsonl(client, batch.output_file_id)
        client.close()
    assert batch.status == "completed" and batch.request_counts.completed == len(bodies)
    assert _requests(sim) == len(bodies) + lost
    assert Counter(r["custom_id"] for r in outputs) == Counter(list(bodies))
