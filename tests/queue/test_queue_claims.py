"""PayOnce against a real redis-server: one call per request, whoever holds the task."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis

from llm_magics.queue import QueueConfig, keys
from llm_magics.queue.claims import PayOnce
from tests.support.queue_procs import free_port

# A lease far longer than any test: only a lapsed heartbeat can end a dead holder's claim.
LONG_LEASE = QueueConfig(claim_ttl_s=600.0, claim_poll_s=0.05)
ANSWER = {"response": {"text": "paid"}, "cached": False, "stats": {"attempts": 1}}


class Calls:
    """A stand-in for the upstream call that counts, and can be held open."""

    def __init__(self, result: dict | None = None) -> None:
        self.count = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.result = result or ANSWER

    def __call__(self) -> dict:
        self.count += 1
        self.entered.set()
        assert self.release.wait(60)
        return self.result


def beating(redis_url: str, worker: str) -> None:
    redis.Redis.from_url(redis_url).set(keys.alive(worker), "1", ex=600)


def test_a_stored_answer_is_returned_to_its_task_as_paid_and_to_another_as_cached(redis_url):
    once = PayOnce(redis_url, LONG_LEASE, "w1")
    calls = Calls()
    assert once.run("req", "task-1", calls) == ANSWER
    assert once.run("req", "task-1", calls) == ANSWER  # a redelivery of the same task
    other = once.run("req", "task-2", calls)  # another task for the same request
    assert other["response"] == ANSWER["response"] and other["cached"] is True
    assert other["stats"] == {"attempts": 0, "retries": 0, "rate_limited": 0}
    assert calls.count == 1


def test_concurrent_copies_call_once_and_the_loser_gets_the_winners_answer(redis_url):
    beating(redis_url, "w1")
    beating(redis_url, "w2")
    first, second = PayOnce(redis_url, LONG_LEASE, "w1"), PayOnce(redis_url, LONG_LEASE, "w2")
    calls = Calls()
    calls.release.clear()
    with ThreadPoolExecutor(2) as pool:
        winner = pool.submit(first.run, "req", "task", calls)
        assert calls.entered.wait(30)
        loser = pool.submit(second.run, "req", "task", calls)
        client = redis.Redis.from_url(redis_url)
        assert client.get(keys.claim("req")).startswith(b"w1 ")
        calls.release.set()
        assert winner.result(30) == loser.result(30) == ANSWER
    assert calls.count == 1
    assert client.get(keys.claim("req")) is None  # released once the answer was stored


def test_a_claim_whose_worker_stopped_beating_is_taken_over_at_once(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set(keys.claim("req"), "dead-worker token", px=600_000)  # no alive key: dead
    calls = Calls()
    started = time.monotonic()
    assert PayOnce(redis_url, LONG_LEASE, "w1").run("req", "task", calls) == ANSWER
    assert calls.count == 1 and time.monotonic() - started < 30  # not the 600 s lease


def test_a_claim_without_a_heartbeat_is_taken_over_when_its_lease_lapses(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set(keys.claim("req"), f"{keys.NO_WORKER} token", px=1500)
    calls = Calls()
    assert PayOnce(redis_url, LONG_LEASE, "w1").run("req", "task", calls) == ANSWER
    assert calls.count == 1


def test_a_live_holders_claim_is_renewed_past_its_ttl(redis_url):
    beating(redis_url, "w1")
    beating(redis_url, "w2")
    short = QueueConfig(claim_ttl_s=2.0, claim_poll_s=0.05)
    calls = Calls()
    calls.release.clear()
    with ThreadPoolExecutor(2) as pool:
        winner = pool.submit(PayOnce(redis_url, short, "w1").run, "req", "task", calls)
        assert calls.entered.wait(30)
        loser = pool.submit(PayOnce(redis_url, short, "w2").run, "req", "task", calls)
        client = redis.Redis.from_url(redis_url)
        until = time.monotonic() + 5.0  # 2.5 lease lengths: still held because it was renewed
        while time.monotonic() < until:
            assert client.exists(keys.claim("req"))
            time.sleep(0.1)
        calls.release.set()
        assert winner.result(30) == loser.result(30) == ANSWER
    assert calls.count == 1


def test_errors_are_not_stored_so_the_next_copy_calls_again(redis_url):
    failed = {"error": {"type": "ServerError", "message": "boom"}, "stats": {}}
    once = PayOnce(redis_url, LONG_LEASE, "w1")
    assert once.run("req", "task", Calls(failed)) == failed
    calls = Calls()
    assert once.run("req", "task", calls) == ANSWER and calls.count == 1


def test_without_redis_the_call_still_happens():
    calls = Calls()
    once = PayOnce(f"redis://127.0.0.1:{free_port()}/0", LONG_LEASE, "w1")
    assert once.run("req", "task", calls) == ANSWER and calls.count == 1
