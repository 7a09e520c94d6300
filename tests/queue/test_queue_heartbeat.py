"""A worker that dies is noticed within seconds: with the DEFAULT visibility timeout (30 min)
its rows are republished as soon as its heartbeat lapses, and none is lost."""

from __future__ import annotations

import time
from collections import Counter

import redis
from queue_helpers import body, requests, submitter

from llm_magics.core.loop_thread import submit
from llm_magics.core.types import Response
from llm_magics.queue import QueueConfig, QueueRun, keys
from llm_magics.queue.app import make_app
from llm_magics.server.sim import expected_answer

ROWS = 120
CONCURRENCY = 4
# Everything that decides redelivery at its default: Celery alone would hand the killed
# worker's tasks out again after 1,800 s. Only the submitter polls faster than default.
DEFAULTS = QueueConfig(poll_interval_s=0.05)
PROMISE_S = 60.0  # a SIGKILLed worker's rows finish within this, with defaults


def held_by(redis_url: str, worker_name: str) -> set[str]:
    """Ids of the tasks a worker runs or has reserved, as Celery itself reports them."""
    app = make_app(redis_url, DEFAULTS)
    try:
        inspect = app.control.inspect([worker_name], timeout=5.0, limit=1)
        return {task["id"] for method in (inspect.active, inspect.reserved)
                for task in (method() or {}).get(worker_name, [])}
    finally:
        app.close()


def test_a_sigkilled_workers_rows_are_republished_within_seconds_with_default_settings(
        redis_url, sim, start_worker, tmp_path):
    assert DEFAULTS.visibility_timeout_s == 1800.0
    sim.configure(latency_s=0.5)
    doomed = start_worker(sim.base_url, concurrency=CONCURRENCY, config=DEFAULTS,
                          cache_path=tmp_path / "doomed.sqlite")
    start_worker(sim.base_url, concurrency=CONCURRENCY, config=DEFAULTS,
                 cache_path=tmp_path / "survivor.sqlite")
    reqs = requests(ROWS, sim.base_url)
    answered_at: dict[int, float] = {}
    reported: Counter[int] = Counter()

    def on_result(i: int, _: object) -> None:
        reported.update([i])
        answered_at.setdefault(i, time.monotonic())

    run = QueueRun(reqs, submitter(redis_url, sim.base_url), config=DEFAULTS,
                   on_result=on_result)
    run.enqueue()
    row_of_key = {r.cache_key(): i for i, r in enumerate(reqs)}
    row_of_task = {task_id: row_of_key[key] for task_id, key in run.pending.items()}
    collecting = submit(run.collect())
    while len(reported) < 24:  # a few seconds in
        time.sleep(0.02)
    held = held_by(redis_url, doomed.name)
    doomed.kill()  # SIGKILL: no warm shutdown, its tasks stay unacked in Redis
    killed_at = time.monotonic()
    assert held, "the worker was killed while it held tasks"

    collecting.result(timeout=PROMISE_S + 60)
    assert reported == Counter(range(ROWS))  # every row, exactly once: none lost
    for req, out in zip(reqs, run.results, strict=True):
        assert isinstance(out, Response) and out.text == expected_answer(body(req))
    republished = sorted(answered_at[row_of_task[t]] - killed_at for t in held
                         if answered_at[row_of_task[t]] > killed_at)
    assert republished, "some held rows were still running when the worker died"
    print(f"\nrows held by the killed worker: {len(held)}, answered after the kill: "
          f"{len(republished)}; first republished row {republished[0]:.1f}s after SIGKILL, "
          f"last {republished[-1]:.1f}s")
    assert republished[-1] < PROMISE_S
    # Only calls in flight at the kill can be paid twice (their answer never came back).
    assert 0 <= sim.stats["chat_requests"] - ROWS <= CONCURRENCY


def test_a_cleanly_stopped_worker_leaves_no_heartbeat_to_reap(redis_url, sim, start_worker):
    worker = start_worker(sim.base_url, concurrency=2, config=DEFAULTS)
    client = redis.Redis.from_url(redis_url)
    waited = time.monotonic()
    while not client.hkeys(keys.WORKERS) and time.monotonic() - waited < 30:
        time.sleep(0.05)  # the first beat follows the worker's first ping answer closely
    registered = [w.decode() for w in client.hkeys(keys.WORKERS)]
    assert len(registered) == 1 and client.exists(keys.alive(registered[0]))
    worker.stop()
    assert client.hkeys(keys.WORKERS) == [] and not client.exists(keys.alive(registered[0]))
