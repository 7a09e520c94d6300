"""Submitting to real workers: fanout's contract (order, dedupe, errors as values, cache), cancel.

One simulator and one worker serve the whole module (a worker takes seconds to
start); each test uses prompts of its own, so caches never answer for another.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from queue_helpers import (
    FAST,
    MODEL,
    WORKER_KEY,
    body,
    requests,
    submitter,
    tag,
    worker_env,
)

import llm_magics
from llm_magics import errors, queue
from llm_magics.core.loop_thread import submit
from llm_magics.core.types import Response
from llm_magics.queue import QueueRun, run_requests
from llm_magics.server.sim import expected_answer
from tests.support.queue_procs import WorkerProcess
from tests.support.sim import Simulator

CONCURRENCY = 3


@pytest.fixture(scope="module")
def fleet(redis_server, tmp_path_factory) -> Iterator[tuple[Simulator, WorkerProcess]]:
    tmp: Path = tmp_path_factory.mktemp("fleet")
    with Simulator(api_key=WORKER_KEY) as sim, WorkerProcess(
        redis_server.url, concurrency=CONCURRENCY, config=FAST, isolate=True,
        env=worker_env(sim.base_url, tmp / "worker.sqlite"), log_path=tmp / "worker.log",
        loglevel="INFO",  # task results are logged: the key must not be among them
    ) as worker:
        yield sim, worker


@pytest.fixture
def sim(fleet) -> Simulator:
    simulator, _ = fleet
    simulator.reset("all")
    simulator.configure(api_key=WORKER_KEY)
    return simulator


@pytest.fixture
def settings(redis_server, sim):
    return submitter(redis_server.url, sim.base_url)


def test_outcomes_come_back_in_input_order_deduplicated_with_errors_in_place(sim, settings):
    reqs = requests(12, sim.base_url)
    bad = errors.InvalidRequestError("empty prompt")
    given = [reqs[0], None, bad, *reqs[1:], reqs[0], reqs[3]]
    seen: Counter[int] = Counter()
    out = run_requests(given, settings, config=FAST,
                       on_result=lambda i, _: seen.update([i]))
    assert out[1] is None and out[2] is bad
    for req, got in zip([reqs[0], *reqs[1:], reqs[0], reqs[3]], [out[0], *out[3:]],
                        strict=True):
        assert isinstance(got, Response) and got.text == expected_answer(body(req))
    assert seen == Counter(range(len(given)))  # every position reported exactly once
    assert sim.stats["chat_requests"] == 12  # duplicates were sent once


def test_a_rerun_is_answered_by_the_cache_without_queueing(sim, settings):
    reqs = requests(10, sim.base_url)
    stats = llm_magics.CallStats()
    run_requests(reqs, settings, config=FAST)
    run = QueueRun(reqs, settings, config=FAST, stats=stats)
    assert run.to_send == 0
    assert all(r.cached for r in run.results) and stats.cached == 10
    assert run.enqueue() == 0
    assert sim.stats["chat_requests"] == 10


def test_a_failed_row_is_an_error_value_and_the_rest_succeed(sim, settings):
    reqs = requests(3, sim.base_url)
    refused = reqs[1].__class__([{"role": "user", "content": f"STATUS:400 {tag()}"}],
                                MODEL, sim.base_url)
    stats = llm_magics.CallStats()
    out = run_requests([reqs[0], refused, reqs[2]], settings, config=FAST, stats=stats)
    assert isinstance(out[1], errors.InvalidRequestError) and out[1].status_code == 400
    assert isinstance(out[0], Response) and isinstance(out[2], Response)
    assert (stats.completed, stats.failed, stats.attempts) == (2, 1, 3)


def redis_contents(client: redis.Redis) -> bytes:
    """Every value in Redis, read by type (DUMP would compress long strings)."""
    parts: list[bytes] = []
    for key in client.scan_iter():
        kind = client.type(key).decode()
        if kind == "string":
            parts.append(client.get(key) or b"")
        elif kind == "list":
            parts += client.lrange(key, 0, -1)
        elif kind == "hash":
            parts += [k + b"=" + v for k, v in client.hgetall(key).items()]
        elif kind == "set":
            parts += list(client.smembers(key))
        elif kind == "zset":
            parts += client.zrange(key, 0, -1)
    return b"\n".join(parts + [body for part in parts for body in _message_bodies(part)])


def _message_bodies(raw: bytes) -> list[bytes]:
    """Kombu stores task bodies base64-encoded inside a JSON envelope: decode them too."""
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    found: list[bytes] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            encoding = (item.get("properties") or {}).get("body_encoding")
            if encoding == "base64" and isinstance(item.get("body"), str):
                found.append(base64.b64decode(item["body"]))
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    return found


def test_the_api_key_is_nowhere_in_redis_or_the_worker_log(fleet, sim, settings,
                                                            redis_server):
    _, worker = fleet
    sim.configure(latency_s=0.2)
    label = tag()
    run = QueueRun(requests(20, sim.base_url, label=label), settings, config=FAST)
    run.enqueue()
    client = redis.Redis.from_url(redis_server.url)
    queued = redis_contents(client)  # messages still queued or unacked
    asyncio.run(run.collect())
    finished = redis_contents(client)
    assert label.encode() in queued  # the scan does see task messages
    assert WORKER_KEY.encode() not in queued + finished
    log = worker.log_path.read_text() if worker.log_path else ""
    assert "succeeded" in log and WORKER_KEY not in log
    assert all(isinstance(r, Response) for r in run.results)


def test_collected_results_are_removed_from_redis(sim, settings, redis_server):
    run_requests(requests(5, sim.base_url), settings, config=FAST)
    client = redis.Redis.from_url(redis_server.url)
    assert list(client.scan_iter("celery-task-meta-*")) == []


def test_cancel_revokes_what_has_not_started(sim, settings):
    sim.configure(latency_s=0.4)
    done: list[int] = []
    future = submit(queue.arun_requests(requests(60, sim.base_url), settings,
                                        config=FAST, on_result=lambda i, _: done.append(i)))
    while len(done) < 3:
        time.sleep(0.02)
    future.cancel()
    time.sleep(2.0)  # long enough for ~15 more calls if nothing had been revoked
    sent = sim.stats["chat_requests"]
    # What was running or already fetched by the worker may finish; nothing else starts.
    assert sent <= len(done) + 2 * CONCURRENCY
    assert len(done) < 60


def test_map_face_needs_no_key_in_the_notebook(sim, redis_server, monkeypatch):
    monkeypatch.setenv("LLM_MAGICS_QUEUE_POLL_INTERVAL", "0.05")
    label = tag()
    prompts = [f"{label} define {w}" for w in ("queue", "broker", "worker")]
    out = queue.map(prompts, model=MODEL, base_url=sim.base_url, redis_url=redis_server.url,
                    priority="interactive", temperature=0)
    assert [r.text for r in out] == [
        expected_answer({"model": MODEL, "messages": [{"role": "user", "content": p}],
                         "temperature": 0}) for p in prompts]


def test_a_graceful_stop_returns_every_row_with_the_unsent_ones_cancelled(sim, settings):
    sim.configure(latency_s=0.4)
    done: list[int] = []
    out = run_requests(requests(60, sim.base_url), settings, config=FAST,
                       on_result=lambda i, _: done.append(i),
                       should_stop=lambda: len(done) >= 3)
    answered = [r for r in out if isinstance(r, Response)]
    stopped = [r for r in out if isinstance(r, errors.CancelledError)]
    assert len(answered) + len(stopped) == 60 and len(stopped) > 40
    assert sorted(done) == list(range(60))
    time.sleep(1.0)
    assert sim.stats["chat_requests"] <= len(answered) + 2 * CONCURRENCY


def test_the_queue_is_a_backend_of_the_core_registry():
    from llm_magics.core.registry import get_backend
    from llm_magics.queue.backend import QueueBackend

    assert isinstance(get_backend("queue"), QueueBackend)


def test_answers_from_the_workers_cache_are_kept_in_the_notebooks_cache(sim, redis_server,
                                                                       tmp_path):
    reqs = requests(5, sim.base_url)
    run_requests(reqs, submitter(redis_server.url, sim.base_url,
                                       cache_path=tmp_path / "first.sqlite"), config=FAST)
    other = submitter(redis_server.url, sim.base_url, cache_path=tmp_path / "other.sqlite")
    out = run_requests(reqs, other, config=FAST)  # a new notebook, same workers
    assert all(r.cached for r in out) and sim.stats["chat_requests"] == 5
    assert QueueRun(reqs, other, config=FAST).to_send == 0


def test_public_map_and_dataframe_accessor_run_on_the_queue(sim, redis_server):
    import pandas as pd

    llm_magics.configure(redis_url=redis_server.url, base_url=sim.base_url, model=MODEL)
    label = tag()
    prompts = [f"{label} public {i}" for i in range(6)]
    out = llm_magics.map(prompts, mode="queue")
    expected = [expected_answer({"model": MODEL, "messages": [{"role": "user", "content": p}]})
                for p in prompts]
    assert [r.text for r in out] == expected

    df = pd.DataFrame({"w": [f"{label} df {i}" for i in range(5)]}, index=list("edcba"))
    col = df.llm.apply("{w}", mode="queue", progress=False)
    assert col.index.equals(df.index)
    assert col.tolist() == [
        expected_answer({"model": MODEL, "messages": [{"role": "user", "content": w}]})
        for w in df["w"]]
    assert sim.stats["chat_requests"] == 11
