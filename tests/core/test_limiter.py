import asyncio

from llm_magics.core.policy.limiter import RateLimiter, TokenBucket, parse_reset


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_bucket_refills_at_its_rate():
    clock = Clock()
    bucket = TokenBucket(60, clock)  # one per second, one banked
    bucket.take(1)
    assert bucket.wait_time(1) == 1.0
    clock.now += 0.5
    assert abs(bucket.wait_time(1) - 0.5) < 1e-9
    clock.now += 0.5
    assert bucket.wait_time(1) == 0.0


def test_parse_reset_reads_openai_durations():
    assert parse_reset("6m0s") == 360
    assert parse_reset("1.5s") == 1.5
    assert parse_reset("120ms") == 0.12
    assert parse_reset("2") == 2.0
    assert parse_reset(None) is None


def test_interactive_waiter_goes_before_earlier_bulk_waiters():
    async def scenario():
        limiter = RateLimiter(rpm=600)  # 10/s, real clock
        order = []

        async def call(name, priority):
            await limiter.acquire(1, priority)
            order.append(name)

        bulk = [asyncio.create_task(call(f"bulk{i}", "bulk")) for i in range(30)]
        await asyncio.sleep(0.05)
        urgent = asyncio.create_task(call("urgent", "interactive"))
        await urgent
        done_before = len(order) - 1
        for t in bulk:
            t.cancel()
        await asyncio.gather(*bulk, return_exceptions=True)
        return done_before

    # 30 bulk callers queued first; the interactive one waits at most ~2 slots.
    assert asyncio.run(scenario()) <= 12  # the 10-request burst plus at most two slots


def test_pause_holds_everyone_until_it_ends():
    async def scenario():
        limiter = RateLimiter(rpm=6000)
        limiter.pause(0.3)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.gather(*(limiter.acquire(1) for _ in range(3)))
        return loop.time() - t0

    assert asyncio.run(scenario()) >= 0.29


def test_headers_teach_a_limit_and_an_exhausted_window_pauses():
    limiter = RateLimiter()
    assert not limiter.active
    limiter.observe_headers({"x-ratelimit-limit-requests": "120",
                             "x-ratelimit-remaining-requests": "0",
                             "x-ratelimit-reset-requests": "2s"})
    snap = limiter.snapshot()
    assert snap["rpm"] == 120 and snap["learned_from_headers"]
    assert 0.4 < snap["paused_for_s"] <= 0.5  # one slot at 120/min, not the 2s full reset


def test_token_estimate_is_corrected_by_real_usage():
    clock = Clock()
    limiter = RateLimiter(tpm=6000, clock=clock)  # 100 tokens/s, 100 banked
    asyncio.run(limiter.acquire(100))
    assert limiter.tokens.wait_time(100) > 0
    limiter.correct_tokens(100 - 10)  # estimate 100, used 10
    assert limiter.tokens.wait_time(90) == 0
