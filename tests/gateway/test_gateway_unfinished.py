"""The gateway relays every token its upstream sent before a break, and caches no cut answer."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from llm_magics.server.sim import SimConfig, expected_answer
from tests.support.sim import Simulator
from tests.support.sim import chat_body as user


def streamed_pieces(client: OpenAI, body: dict) -> tuple[list[str], openai.APIError | None]:
    pieces: list[str] = []
    try:
        for chunk in client.chat.completions.create(**body, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    except openai.APIError as err:
        return pieces, err
    return pieces, None


def test_tokens_that_arrive_with_the_break_are_relayed(client: OpenAI, sim: Simulator) -> None:
    # No pacing: the tokens and the drop reach the gateway back to back, in one burst.
    sim.configure(answer_tokens=12)
    for attempt in range(5):
        pieces, err = streamed_pieces(client, user(f"DROP:4 burst {attempt}"))
        assert err is not None and "broke" in err.message
        assert len(pieces) == 4, (attempt, pieces)


def test_a_truncated_upstream_stream_is_an_error_and_not_cached(make_gateway,
                                                               sim: Simulator) -> None:
    gateway = make_gateway(share_cache=True)  # the cache header is shown only then
    client = OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=30)
    sim.configure(answer_tokens=12, truncate_rate=1.0)
    body = user("truncate me")
    pieces, err = streamed_pieces(client, body)
    assert pieces and err is not None and "finish_reason" in err.message
    full = expected_answer(body, SimConfig(answer_tokens=12))
    assert full.startswith("".join(pieces)) and "".join(pieces) != full

    sim.configure(truncate_rate=0.0)
    before = sim.stats["chat_requests"]
    answer = client.chat.completions.with_raw_response.create(**body)
    assert answer.headers["x-llm-cache"] == "miss"
    assert answer.parse().choices[0].message.content == full
    assert sim.stats["chat_requests"] == before + 1


@pytest.mark.parametrize("kind", ["html", "no_choices"])
def test_an_upstream_200_that_is_no_answer_is_a_gateway_error(
        fast_retries: None, client: OpenAI, sim: Simulator, kind: str) -> None:
    sim.configure(bad_body_rate=1.0, bad_body=kind)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(**user("nothing useful"))
    assert info.value.status_code >= 500
    assert sim.stats["chat_requests"] > 1  # retried upstream before giving up
