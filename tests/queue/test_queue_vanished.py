"""A task message lost between the queue and a worker (taken, never registered) is sent again.

That is what a worker SIGKILLed between kombu's BRPOP and its unacked bookkeeping
leaves behind; here the test takes the message off the queue itself.
"""

from __future__ import annotations

import time

import redis
from queue_helpers import FAST, body, requests, submitter

from llm_magics.core.loop_thread import run_sync
from llm_magics.core.types import Response
from llm_magics.queue import QueueRun
from llm_magics.queue.app import make_app
from llm_magics.queue.config import PRIORITY_LEVELS, QUEUE_NAME
from llm_magics.queue.reaper import broker_channel
from llm_magics.queue.vanished import _task_id
from llm_magics.server.sim import expected_answer

CONFIG = FAST.replace(heartbeat_ttl_s=1.0)  # the submitter's grace before sending again


def test_a_task_taken_off_the_queue_and_never_run_is_sent_again_and_paid_once(
        redis_url, sim, start_worker):
    sim.configure(latency_s=1.5)
    start_worker(sim.base_url, concurrency=1, config=CONFIG)
    reqs = requests(3, sim.base_url)
    run = QueueRun(reqs, submitter(redis_url, sim.base_url), config=CONFIG)
    run.enqueue()
    client = redis.Redis.from_url(redis_url)
    app = make_app(redis_url, CONFIG)
    with broker_channel(app) as channel:
        bulk = channel._q_for_pri(QUEUE_NAME, PRIORITY_LEVELS["bulk"])
        unacked = channel.unacked_key
    waited = time.monotonic()
    while client.hlen(unacked) < 1 and time.monotonic() - waited < 30:
        time.sleep(0.02)  # the worker holds one task, two wait in the queue
    held = [_task_id(raw) for raw in client.hvals(unacked)]
    assert len(held) == 1 and held[0] in run.pending  # a held task is recognised as held
    assert client.rpop(bulk) is not None  # the next task in line vanishes
    app.close()

    out = run_sync(run.collect())
    for req, got in zip(reqs, out, strict=True):
        assert isinstance(got, Response) and got.text == expected_answer(body(req))
    assert sim.stats["chat_requests"] == 3
