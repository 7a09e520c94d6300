"""Redis down or no worker running is a clear error within seconds, never a hang."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from queue_helpers import FAST, requests, submitter

from llm_magics.core.loop_thread import run_sync
from llm_magics.queue import BrokerUnavailableError, NoWorkerError, QueueRun, run_requests
from tests.support.queue_procs import free_port


def test_unreachable_redis_names_the_url_and_how_to_start_it(sim):
    url = f"redis://:secret-pw@127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError) as caught:
        run_requests(requests(3, sim.base_url), submitter(url, sim.base_url),
                     config=FAST)
    assert time.monotonic() - started < 5
    message = caught.value.message
    assert "redis-server" in message and "redis_url" in message
    assert url.replace("secret-pw", "***") in message and "secret-pw" not in message
    assert sim.stats["chat_requests"] == 0


def test_no_worker_says_how_to_start_one_and_queues_nothing(redis_url, sim):
    run = QueueRun(requests(3, sim.base_url), submitter(redis_url, sim.base_url), config=FAST)
    started = time.monotonic()
    with pytest.raises(NoWorkerError, match="start one with: llm-magics worker"):
        run.enqueue()
    assert time.monotonic() - started < FAST.ping_timeout_s + 2
    assert run.pending == {}


def test_llm_magics_worker_refuses_to_start_without_redis():
    url = f"redis://127.0.0.1:{free_port()}/0"
    proc = subprocess.run([sys.executable, "-m", "llm_magics.cli", "worker", "--redis-url", url],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert f"Cannot reach Redis at {url}" in proc.stderr and "redis-server" in proc.stderr


def test_workers_dying_mid_run_is_an_error_not_a_hang(redis_url, sim, start_worker):
    sim.configure(latency_s=0.5)
    worker = start_worker(sim.base_url, concurrency=2)
    settings = submitter(redis_url, sim.base_url)
    done: list[int] = []
    run = QueueRun(requests(40, sim.base_url), settings, config=FAST,
                   on_result=lambda i, _: done.append(i))
    run.enqueue()
    time.sleep(1.0)
    worker.kill()
    started = time.monotonic()
    with pytest.raises(NoWorkerError, match="start one with: llm-magics worker") as caught:
        run_sync(run.collect())
    assert time.monotonic() - started < FAST.stall_check_s + FAST.ping_timeout_s + 3
    assert "run again" in caught.value.message and len(done) < 40
