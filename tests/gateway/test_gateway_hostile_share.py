"""One client key must not take every concurrency slot (``--concurrency``) of a shared gateway.

Slots are handed out by priority, then arrival: a key that keeps as many
long requests in flight as there are slots (and more waiting) would make
every other key wait behind it. With two or more keys, each may have at most
its share in flight (``--key-concurrency``, by default half the slots); past
it the request is its own 429, before its body is read or a slot is asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
from hostile import KEY_A, KEY_B

from tests.support.gateway import Gateway
from tests.support.sim import Simulator
from tests.support.waiting import wait_until

BODY = {"model": "sim-small", "max_tokens": 2, "messages": [{"role": "user", "content": "x"}]}


def post(gateway: Gateway, key: str) -> httpx.Response:
    return httpx.post(gateway.base_url + "/chat/completions", json=BODY, timeout=60,
                      headers={"authorization": f"Bearer {key}"})


def test_a_key_past_its_share_of_slots_gets_429_and_others_are_served(
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    sim.configure(latency_s=1.0)
    gateway = make_gateway(client_keys=(KEY_A, KEY_B), concurrency=4, cache=False)
    held: list[httpx.Response] = []
    hogs = [threading.Thread(target=lambda: held.append(post(gateway, KEY_A)))
            for _ in range(2)]
    for hog in hogs:
        hog.start()
    traffic = gateway.state.traffic
    wait_until(lambda: traffic.in_flight == 2, what="key A's share in flight")
    refused = post(gateway, KEY_A)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_requests_in_flight"
    assert "2 requests in flight" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "1"
    assert post(gateway, KEY_B).status_code == 200  # the other half is B's
    for hog in hogs:
        hog.join(60)
    assert [r.status_code for r in held] == [200, 200]
    assert post(gateway, KEY_A).status_code == 200  # its share is back


def test_one_key_alone_keeps_every_slot(make_gateway: Callable[..., Gateway],
                                        sim: Simulator) -> None:
    sim.configure(latency_s=1.0)
    gateway = make_gateway(client_keys=(KEY_A,), concurrency=4, cache=False)
    answers: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(post(gateway, KEY_A)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in answers] == [200] * 4
