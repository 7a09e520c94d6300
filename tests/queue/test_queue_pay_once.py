"""Real workers never pay twice for a task delivered again, nor for copies held at once."""

from __future__ import annotations

import time
from typing import Any

from queue_helpers import FAST, body, requests

from llm_magics.core.types import Response
from llm_magics.queue.app import make_app
from llm_magics.queue.config import TASK_NAME
from llm_magics.queue.messages import decode_result, encode_request
from llm_magics.server.sim import expected_answer


def send_and_wait(redis_url: str, message: dict[str, Any], task_ids: list[str]
                  ) -> list[Response]:
    """Publish ``message`` under each task id (a repeated id is a redelivery); await all."""
    app = make_app(redis_url, FAST)
    try:
        for task_id in task_ids:
            app.send_task(TASK_NAME, args=[message], task_id=task_id)
        metas: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 60
        while len(metas) < len(set(task_ids)) and time.monotonic() < deadline:
            for task_id in set(task_ids) - set(metas):
                meta = app.backend.get_task_meta(task_id)
                if meta.get("status") == "SUCCESS":
                    metas[task_id] = meta
            time.sleep(0.05)
    finally:
        app.close()
    outcomes = [decode_result(metas[t]["result"])[0] for t in dict.fromkeys(task_ids)]
    assert all(isinstance(o, Response) for o in outcomes), outcomes
    return outcomes  # type: ignore[return-value]


def test_a_task_delivered_again_on_another_machine_reads_the_answer_it_paid_for(
        redis_url, sim, start_worker, tmp_path):
    req = requests(1, sim.base_url)[0]
    message = encode_request(req)
    first = start_worker(sim.base_url, cache_path=tmp_path / "first-machine.sqlite")
    [paid] = send_and_wait(redis_url, message, ["task-1"])
    first.stop()
    # Another machine: its own empty cache, so only the answer stored in Redis can help.
    start_worker(sim.base_url, cache_path=tmp_path / "second-machine.sqlite")
    app = make_app(redis_url, FAST)
    app.backend.forget("task-1")  # as the submitter does once it has read a result
    app.close()
    [again] = send_and_wait(redis_url, message, ["task-1"])
    assert again.text == paid.text == expected_answer(body(req))
    assert not again.cached  # this task's own paid answer, counted as paid once
    assert sim.stats["chat_requests"] == 1


def test_a_task_delivered_again_with_the_cache_off_still_pays_once(redis_url, sim,
                                                                   start_worker):
    start_worker(sim.base_url)
    req = requests(1, sim.base_url)[0]
    message = encode_request(req, use_cache=False)  # no worker cache can answer it
    send_and_wait(redis_url, message, ["task-1"])
    send_and_wait(redis_url, message, ["task-1"])
    assert sim.stats["chat_requests"] == 1
    send_and_wait(redis_url, message, ["task-2"])  # a new task: the caller asked for a new call
    assert sim.stats["chat_requests"] == 2


def test_two_workers_holding_the_same_request_at_once_call_upstream_once(
        redis_url, sim, start_worker, tmp_path):
    sim.configure(latency_s=1.5)  # long enough that both workers hold it together
    for name in ("a", "b"):
        start_worker(sim.base_url, concurrency=1, cache_path=tmp_path / f"{name}.sqlite")
    req = requests(1, sim.base_url)[0]
    one, other = send_and_wait(redis_url, encode_request(req), ["copy-1", "copy-2"])
    assert one.text == other.text == expected_answer(body(req))
    assert sorted([one.cached, other.cached]) == [False, True]  # paid once, shared once
    assert sim.stats["chat_requests"] == 1
