"""The prefork pool works too: each child process starts its own event loop and limiter."""

from __future__ import annotations

from queue_helpers import FAST, body, requests, submitter

from llm_magics.core.types import Response
from llm_magics.queue import run_requests
from llm_magics.server.sim import expected_answer


def test_a_prefork_worker_answers_like_a_threads_one(redis_url, sim, start_worker):
    start_worker(sim.base_url, concurrency=2, pool="prefork")
    reqs = requests(8, sim.base_url)
    out = run_requests(reqs, submitter(redis_url, sim.base_url), config=FAST)
    for req, got in zip(reqs, out, strict=True):
        assert isinstance(got, Response) and got.text == expected_answer(body(req))
    assert sim.stats["chat_requests"] == 8
