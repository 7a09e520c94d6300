"""JSON that Python parses but cannot send on: lone UTF-16 surrogates in ``\\u`` escapes.

``json.loads`` turns ``"\\ud800"`` into a string that cannot be encoded as
UTF-8; without a check it failed inside the upstream call, as a 500 with a
stack trace in the log (and a failed batch "inside the gateway").
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from hostile import KEY_A
from openai import OpenAI

from tests.support.batch_api import line, start_batch, wait
from tests.support.gateway import Gateway
from tests.support.sim import Simulator

LONE = b'{"model": "sim-small", "messages": [{"role": "user", "content": "a\\ud800b"}]}'
PAIR = b'{"model": "sim-small", "messages": [{"role": "user", "content": "a\\ud83d\\ude00b"}]}'


def test_a_lone_surrogate_is_400_and_never_sent(make_gateway: Callable[..., Gateway],
                                                sim: Simulator) -> None:
    gateway = make_gateway(client_keys=(KEY_A,))
    headers = {"authorization": f"Bearer {KEY_A}", "content-type": "application/json"}
    url = gateway.base_url + "/chat/completions"
    for stream in (b"false", b"true"):
        refused = httpx.post(url, content=LONE[:-1] + b', "stream": ' + stream + b"}",
                             headers=headers)
        assert refused.status_code == 400, refused.text
        assert "surrogate" in refused.json()["error"]["message"]
    assert sim.stats["chat_requests"] == 0
    assert httpx.post(url, content=PAIR, headers=headers).status_code == 200  # an emoji


def test_a_batch_line_with_a_lone_surrogate_is_named(make_gateway: Callable[..., Gateway],
                                                     sim: Simulator) -> None:
    gateway = make_gateway(client_keys=(KEY_A,))
    bad = line("bad", {"model": "sim-small", "messages": [{"role": "user", "content": "x"}]})
    bad = bad.replace('"x"', '"\\ud800"')
    with OpenAI(base_url=gateway.base_url, api_key=KEY_A, max_retries=0) as a:
        batch, _ = wait(a, start_batch(a, [bad]))
    assert batch.status == "failed"
    (error,) = batch.errors.data
    assert error.code == "invalid_json_line" and error.line == 1
    assert "surrogate" in error.message
    assert sim.stats["chat_requests"] == 0
