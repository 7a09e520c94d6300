"""StreamRun on the core loop thread: throttled updates, exact final text, stops that keep text."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

from jupyter_helpers import MODEL, user

from llm_magics.errors import StreamInterruptedError
from llm_magics.jupyter.streaming import StreamRun, Throttle
from llm_magics.server.sim import expected_answer


class FakeTimers:
    """A clock and ``call_later`` that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self.due: list[tuple[float, object]] = []

    def clock(self) -> float:
        return self.now

    def call_later(self, delay: float, fn):  # noqa: ANN001
        entry = [self.now + delay, fn, False]

        class Handle:
            def cancel(self) -> None:
                entry[2] = True

        self.due.append(entry)
        return Handle()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for entry in [e for e in self.due if e[0] <= self.now and not e[2]]:
            self.due.remove(entry)
            entry[1]()


def make_throttle(timers: FakeTimers, interval: float = 0.05) -> tuple[Throttle, list[float]]:
    fired: list[float] = []
    throttle = Throttle(lambda: fired.append(timers.now), interval, timers.call_later,
                        timers.clock)
    return throttle, fired


def test_throttle_fires_at_most_once_per_interval_and_never_drops_the_last_poke():
    timers = FakeTimers()
    throttle, fired = make_throttle(timers)
    for _ in range(100):  # 100 pokes within 10 ms
        throttle.poke()
        timers.advance(0.0001)
    assert fired == [0.0]
    timers.advance(0.05)
    assert len(fired) == 2 and fired[1] >= 0.05  # the trailing update carries the latest state


def test_throttle_under_a_steady_fast_stream_stays_near_its_rate():
    timers = FakeTimers()
    throttle, fired = make_throttle(timers)
    for _ in range(1000):  # one token per ms for one second
        throttle.poke()
        timers.advance(0.001)
    timers.advance(0.1)
    assert 19 <= len(fired) <= 21
    gaps = [b - a for a, b in pairwise(fired)]
    assert min(gaps) >= 0.05 - 1e-9


def test_cancelled_throttle_does_not_fire_late():
    timers = FakeTimers()
    throttle, fired = make_throttle(timers)
    throttle.poke()
    throttle.poke()
    throttle.cancel()
    timers.advance(1)
    assert fired == [0.0]


def test_run_streams_the_servers_answer_and_ends_with_exactly_that_text(ip, sim):
    sim.configure(token_latency_s=0.01)
    seen: list[str] = []
    run = StreamRun(user("TOKENS:30 go"), {"model": MODEL},
                    on_update=lambda r: seen.append(r.text)).start()
    assert run.wait(10).done()
    body = {"model": MODEL, "messages": user("TOKENS:30 go")}
    assert run.status == "done" and run.error is None
    assert run.text == run.response.text == expected_answer(body, sim.config)
    assert seen[-1] == run.text and len(seen) >= 3
    assert all(b.startswith(a) for a, b in pairwise(seen))  # text only grows
    assert run.outcome() is run.response


def test_stop_keeps_the_partial_text_and_ends_the_request(ip, sim):
    sim.configure(token_latency_s=0.02)
    run = StreamRun(user("TOKENS:500 go"), {"model": MODEL}).start()
    deadline = time.monotonic() + 5
    while len(run.parts) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    run.cancel()
    assert run.wait(5).done()
    partial = run.outcome()
    assert run.status == "stopped" and run.response is None
    assert partial.finish_reason == "stopped" and partial.text == run.text
    assert 5 <= len(run.parts) < 500
    assert partial.usage.completion_tokens == len(run.parts) and partial.ttft_s is not None


def test_stop_before_the_loop_starts_still_finishes(ip, sim):
    run = StreamRun(user("hello"), {"model": MODEL})
    run.start()
    run.cancel()
    assert run.wait(5).done()
    assert run.status in ("stopped", "done")  # whichever won; it must end either way


def test_a_dropped_stream_ends_in_error_with_the_partial_text(ip, sim):
    run = StreamRun(user("DROP:3 TOKENS:20 go"), {"model": MODEL}, use_cache=False).start()
    assert run.wait(10).done()
    assert run.status == "error" and isinstance(run.error, StreamInterruptedError)
    assert len(run.parts) == 3
    assert run.outcome().text == run.error.partial_text == run.text


def test_updates_come_from_the_runner_thread_not_the_caller(ip, sim):
    threads: set[str] = set()
    run = StreamRun(user("hello"), {"model": MODEL},
                    on_update=lambda r: threads.add(threading.current_thread().name)).start()
    run.wait(5)
    assert threads == {"llm-magics-loop"}
