"""A tenant's batch input must not cost the shared gateway more than OpenAI would accept.

The gateway parses a batch file and keeps its lines in memory while it runs
them; a 200 MB upload of tiny lines is over a million requests (gigabytes of
parsed bodies). OpenAI caps a batch at 50,000 requests; so does the gateway,
before parsing a line.
"""

from __future__ import annotations

from collections.abc import Callable

from hostile import KEY_A
from openai import OpenAI

from llm_magics.server.constants import MAX_BATCH_LINES
from tests.support.batch_api import line, start_batch, wait
from tests.support.gateway import Gateway
from tests.support.sim import Simulator
from tests.support.sim import chat_body as user


def test_a_batch_over_the_request_cap_fails_before_any_line_runs(
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    gateway = make_gateway(client_keys=(KEY_A,))
    one = line("{}", user("x", max_tokens=1))
    lines = [one.replace('"{}"', f'"{i}"') for i in range(MAX_BATCH_LINES + 1)]
    with OpenAI(base_url=gateway.base_url, api_key=KEY_A, max_retries=0, timeout=60) as a:
        batch, _ = wait(a, start_batch(a, lines), timeout=60)
    assert batch.status == "failed"
    (error,) = batch.errors.data
    assert error.code == "too_many_requests_in_batch"
    assert f"{MAX_BATCH_LINES + 1}" in error.message and "Split it into several" in error.message
    assert sim.stats["chat_requests"] == 0
