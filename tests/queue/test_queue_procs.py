"""The throwaway processes leave nothing behind, even when whoever started them is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from llm_magics.local.procs import pid_alive

REPO = Path(__file__).resolve().parents[2]

STARTER = """
import json, sys, time
from tests.support.queue_procs import RedisServer, WorkerProcess
redis = RedisServer().start()
worker = WorkerProcess(redis.url, concurrency=1, isolate=True,
                       env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}).start()
print(json.dumps([redis.proc.pid, worker.pid]), flush=True)
time.sleep(600)
"""


def test_redis_and_workers_die_with_the_process_that_started_them():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    starter = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE,
                               text=True, env=env)
    try:
        pids = json.loads(starter.stdout.readline())
        assert all(pid_alive(pid) for pid in pids)
        starter.send_signal(signal.SIGKILL)  # no atexit, no fixture teardown
        starter.wait(10)
        deadline = time.monotonic() + 10
        while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(pid_alive(pid) for pid in pids)
    finally:
        if starter.poll() is None:
            starter.kill()
        starter.stdout.close()
