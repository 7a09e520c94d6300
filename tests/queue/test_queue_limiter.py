"""The shared limiter against a real redis-server: two limiter objects stand for two workers."""

from __future__ import annotations

import asyncio
import time

import redis

from llm_magics.queue.limiter import RedisRateLimiter, limiter_keys, store_limits

URL, MODEL = "http://upstream/v1", "m"


def limiters(redis_url: str, n: int = 2, **limits) -> list[RedisRateLimiter]:
    return [RedisRateLimiter(redis_url, URL, MODEL, **limits) for _ in range(n)]


async def close(*items: RedisRateLimiter) -> None:
    for limiter in items:
        await limiter.aclose()


def test_two_workers_together_stay_under_one_rpm(redis_url):
    async def run() -> float:
        a, b = limiters(redis_url, rpm=1200)  # 20/s, one second (20) banked
        start = time.monotonic()
        await asyncio.gather(*(lim.acquire(1) for lim in (a, b) for _ in range(30)))
        elapsed = time.monotonic() - start
        await close(a, b)
        return elapsed

    elapsed = asyncio.run(run())
    # 60 requests at 20/s with 20 banked: at least 2 s; alone, each would take 0.5 s.
    assert 1.9 <= elapsed < 6.0


def test_tokens_per_minute_are_shared_too(redis_url):
    async def run() -> float:
        a, b = limiters(redis_url, tpm=12_000)  # 200 tokens/s, 200 banked
        start = time.monotonic()
        await asyncio.gather(*(lim.acquire(100) for lim in (a, b) for _ in range(3)))
        elapsed = time.monotonic() - start
        await close(a, b)
        return elapsed

    assert 1.9 <= asyncio.run(run()) < 6.0  # 600 tokens, 200 banked, 200/s


def test_a_429_in_one_worker_pauses_every_worker(redis_url):
    async def run() -> float:
        a, b = limiters(redis_url)
        a.pause(1.0)
        await a.flush()
        start = time.monotonic()
        await b.acquire(1)
        elapsed = time.monotonic() - start
        await close(a, b)
        return elapsed

    assert 0.9 <= asyncio.run(run()) < 2.0
    assert redis.Redis.from_url(redis_url).get(limiter_keys(URL, MODEL)[1]) is not None


def test_a_waiting_interactive_call_goes_before_an_earlier_bulk_one(redis_url):
    async def run() -> list[str]:
        bulk_worker, interactive_worker = limiters(redis_url, rpm=60)  # one per second
        await bulk_worker.acquire(1)  # empty the bucket
        order: list[str] = []

        async def take(limiter: RedisRateLimiter, priority: str) -> None:
            await limiter.acquire(1, priority)
            order.append(priority)

        bulk = asyncio.ensure_future(take(bulk_worker, "bulk"))
        await asyncio.sleep(0.1)  # the bulk call is waiting first
        interactive = asyncio.ensure_future(take(interactive_worker, "interactive"))
        await asyncio.gather(bulk, interactive)
        await close(bulk_worker, interactive_worker)
        return order

    assert asyncio.run(run()) == ["interactive", "bulk"]


def test_token_surplus_is_given_back_to_everyone(redis_url):
    async def run() -> float:
        a, b = limiters(redis_url, tpm=6_000)  # 100/s, 100 banked
        permit = await a.acquire(100)
        permit.settle(10)  # the estimate said 100, the answer used 10: 90 back
        await a.flush()
        start = time.monotonic()
        await b.acquire(80)
        elapsed = time.monotonic() - start
        await close(a, b)
        return elapsed

    assert asyncio.run(run()) < 0.3


def test_a_limit_stated_by_the_notebook_binds_the_workers(redis_url):
    store_limits(redis_url, URL, MODEL, rpm=600, tpm=None)  # 10/s, 10 banked

    async def run() -> float:
        (worker,) = limiters(redis_url, n=1)  # the worker itself states no limit
        start = time.monotonic()
        for _ in range(20):
            await worker.acquire(1)
        elapsed = time.monotonic() - start
        await close(worker)
        return elapsed

    assert 0.9 <= asyncio.run(run()) < 2.5


def test_headers_teach_a_missing_limit_but_never_override_a_configured_one(redis_url):
    client = redis.Redis.from_url(redis_url)
    bucket = limiter_keys(URL, MODEL)[0]

    async def run(rpm: int | None) -> None:
        (worker,) = limiters(redis_url, n=1, rpm=rpm)
        await worker.acquire(1)
        worker.observe_headers({"x-ratelimit-limit-requests": "900",
                                "x-ratelimit-remaining-requests": "5"})
        await close(worker)

    asyncio.run(run(None))
    assert client.hget(bucket, "rpm") == b"900"
    client.flushall()
    asyncio.run(run(120))
    assert client.hget(bucket, "rpm") == b"120"


def test_an_exhausted_window_pauses_for_one_slot(redis_url):
    async def run() -> float:
        (worker,) = limiters(redis_url, n=1, rpm=120)
        await worker.acquire(1)
        worker.observe_headers({"x-ratelimit-remaining-requests": "0",
                                "x-ratelimit-reset-requests": "30s"})
        await worker.flush()
        start = time.monotonic()
        await worker.acquire(1)
        elapsed = time.monotonic() - start
        await close(worker)
        return elapsed

    assert 0.4 <= asyncio.run(run()) < 1.5  # one slot at 120/min, not the 30 s window


def test_the_scripts_run_by_sha(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.config_resetstat()

    async def run() -> None:
        (worker,) = limiters(redis_url, n=1, rpm=6000)
        for _ in range(5):
            await worker.acquire(1)
        await close(worker)

    asyncio.run(run())
    stats = client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] >= 5
    assert "cmdstat_eval" not in stats


def test_waiters_of_one_priority_are_served_first_come_first_served(redis_url):
    async def run() -> list[int]:
        a, b = limiters(redis_url, rpm=600)  # 10/s, 10 banked
        for _ in range(10):
            await a.acquire(1)  # empty the bank
        order: list[int] = []

        async def take(i: int) -> None:
            await (a, b)[i % 2].acquire(1)
            order.append(i)

        tasks = []
        for i in range(8):
            tasks.append(asyncio.ensure_future(take(i)))
            await asyncio.sleep(0.01)  # arrive in this order
        await asyncio.gather(*tasks)
        await close(a, b)
        return order

    assert asyncio.run(run()) == list(range(8))


def test_a_cancelled_waiter_leaves_the_queue(redis_url):
    client = redis.Redis.from_url(redis_url)
    _, _, waiters, deadlines = limiter_keys(URL, MODEL)

    async def run() -> None:
        (worker,) = limiters(redis_url, n=1, rpm=60)
        await worker.acquire(1)
        waiting = asyncio.ensure_future(worker.acquire(1))
        await asyncio.sleep(0.2)
        assert client.zcard(waiters) == 1
        waiting.cancel()
        await asyncio.sleep(0)
        await worker.flush()
        await close(worker)

    asyncio.run(run())
    assert client.zcard(waiters) == 0 and client.zcard(deadlines) == 0
