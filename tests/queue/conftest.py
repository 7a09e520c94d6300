"""Real services for the queue tier: one redis-server per session, real worker processes.

Redis runs as ``redis-server --port <free> --save '' --appendonly no`` in a
temporary directory and is flushed before each test. Workers are
``python -m llm_magics.queue.worker`` subprocesses in their own process groups,
stopped (or killed) by the fixtures; they get the simulator's URL and the only
copy of the API key through their environment, and nothing else from ours.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from queue_helpers import FAST, WORKER_KEY, worker_env

from llm_magics.queue import QueueConfig
from tests.support.queue_procs import RedisServer, WorkerProcess
from tests.support.sim import Simulator

if shutil.which("redis-server") is None:  # CI installs it: a missing server is a failure
    pytest.fail("redis-server is not installed (apt-get install redis-server)", pytrace=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A clean database for each test: no queued tasks, limits or results left over."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


WorkerFactory = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(redis_url: str, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start workers for this test; every one is stopped (or was killed) when it ends."""
    started: list[WorkerProcess] = []

    def start(base_url: str, *, concurrency: int = 4, config: QueueConfig = FAST,
              pool: str = "threads",
              cache_path: Path | None = None, env: dict[str, str] | None = None
              ) -> WorkerProcess:
        n = len(started)
        worker = WorkerProcess(
            redis_url, concurrency=concurrency, config=config, isolate=True, pool=pool,
            env={**worker_env(base_url, cache_path or tmp_path / "worker-cache.sqlite"),
                 **(env or {})},
            log_path=tmp_path / f"worker-{n}.log", name=f"w{n}-{tmp_path.name}@localhost",
        )
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop(timeout=5)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """The simulator, refusing any call without the workers' key."""
    with Simulator(api_key=WORKER_KEY) as simulator:
        yield simulator
