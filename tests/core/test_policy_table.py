"""The engine's per-(endpoint, model) limiters and breakers stay bounded; nothing in use is lost.

Behind the gateway, model names come from clients; an upstream without a model
list cannot tell invented names from real ones. These tests drive the table and
the engine directly with many names; ``tests/gateway/test_gateway_hostile_metrics.py``
sends them through the gateway.
"""

from __future__ import annotations

import asyncio

from llm_magics.core.constants import MAX_IDLE_POLICIES
from llm_magics.core.endpoint import Endpoint
from llm_magics.core.engine import Engine
from llm_magics.core.policy.breaker import CircuitBreaker
from llm_magics.core.policy.limiter import RateLimiter
from llm_magics.core.policy.table import PolicyTable
from llm_magics.core.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Thing:
    def __init__(self, busy: bool = False) -> None:
        self.busy = busy


def test_idle_entries_past_the_limit_go_least_recently_used_first() -> None:
    table: PolicyTable[Thing] = PolicyTable(lambda thing: not thing.busy, limit=8)
    for i in range(8):
        table.add(("u", f"m{i}"), Thing())
    assert table.use(("u", "m0")) is not None  # m0 is now the most recently used
    for i in range(8, 100):
        table.add(("u", f"m{i}"), Thing())
        assert len(table) <= 8
    assert ("u", "m99") in table
    assert ("u", "m1") not in table and ("u", "m2") not in table


def test_busy_entries_are_never_dropped_and_sweeps_stay_rare() -> None:
    swept = 0

    def at_rest(thing: Thing) -> bool:
        nonlocal swept
        swept += 1
        return not thing.busy

    table: PolicyTable[Thing] = PolicyTable(at_rest, limit=8)
    busy = [Thing(busy=True) for _ in range(40)]
    for i, thing in enumerate(busy):
        table.add(("u", f"busy{i}"), thing)
    assert len(table) == 40  # in use: kept whatever the limit
    assert swept < 3 * 40  # a sweep waits for the table to double, not one per add
    for thing in busy:
        thing.busy = False
    for i in range(41):  # the next sweep, once the table has doubled, drops what is idle now
        table.add(("u", f"new{i}"), Thing())
    assert len(table) <= 8 and ("u", "new40") in table


def test_a_limiter_is_at_rest_only_with_full_buckets_no_pause_and_no_waiter() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=60, tpm=6000, clock=clock)
    assert limiter.at_rest
    limiter._take(100)  # what acquire() takes for a call of 100 tokens
    assert not limiter.at_rest
    clock.now += 2.0  # one request and 200 tokens back: both buckets full again
    assert limiter.at_rest
    limiter.pause(5.0)
    clock.now += 4.0
    assert not limiter.at_rest
    clock.now += 60.0
    assert limiter.at_rest
    assert RateLimiter().at_rest  # no limits: nothing to remember


def test_a_limiter_with_waiters_is_not_at_rest() -> None:
    async def scenario() -> None:
        limiter = RateLimiter(rpm=60)  # one banked, one per second
        await limiter.acquire(1)
        waiter = asyncio.ensure_future(limiter.acquire(1))
        await asyncio.sleep(0)
        assert limiter.queued == 1 and not limiter.at_rest
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)

    asyncio.run(scenario())


def test_a_breaker_is_at_rest_when_the_next_call_would_go_through_and_none_is_in_flight() -> None:
    clock = Clock()
    breaker = CircuitBreaker("sim", threshold=1, cooldown_s=5, clock=clock)
    assert breaker.at_rest
    breaker.before_call()
    assert not breaker.at_rest  # a call in flight
    breaker.on_failure()
    assert breaker.state == "open" and not breaker.at_rest  # failing fast for 5 s
    clock.now += 5.0
    assert breaker.at_rest


def test_the_engine_keeps_its_tables_bounded_and_keeps_a_limiter_that_is_in_use() -> None:
    engine = Engine()
    settings = Settings(rpm=60)
    busy = engine.limiter_for(Endpoint("http://upstream/v1", "real-model", "k"), settings)
    busy._take(1)  # a call just went out: its bucket is not full for a second
    for i in range(3 * MAX_IDLE_POLICIES):
        endpoint = Endpoint("http://upstream/v1", f"invented-{i}", "k")
        engine.limiter_for(endpoint, Settings())
        engine.breaker_for(endpoint, settings)
    assert len(engine.limiters) <= MAX_IDLE_POLICIES
    assert len(engine.breakers) <= MAX_IDLE_POLICIES
    assert engine.limiters[("http://upstream/v1", "real-model")] is busy
