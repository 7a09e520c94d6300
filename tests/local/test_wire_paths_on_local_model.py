"""llama.cpp's own server, on both request paths and both transports: the same greedy
answer on each, and what it sends for a prompt it refuses (a 400 without streaming, an
empty 200 event stream with it) said plainly."""

from __future__ import annotations

import pytest

import llm_magics
from llm_magics import errors

WIRES = [(p, t) for p in ("lean", "sdk") for t in ("aiohttp", "httpx")]
TOO_LONG = "word " * 9000  # past SmolLM2's 2048-token context


def options(server, path: str, transport: str) -> dict:
    return {"base_url": server.base_url, "api_key": "local", "model": server.model,
            "cache": False, "max_retries": 0, "request_path": path, "transport": transport,
            "temperature": 0, "max_tokens": 12}


def test_every_wire_gets_the_same_greedy_answer(server):
    answers = []
    for path, transport in WIRES:
        s = llm_magics.stream("Say hello", **options(server, path, transport))
        streamed = "".join(s)
        whole = llm_magics.complete("Say hello", **options(server, path, transport))
        assert s.response.finish_reason == whole.finish_reason == "length"
        assert whole.usage.completion_tokens == 12  # counted by the server
        answers.append((streamed, whole.text))
    assert answers[0][0].strip() and len(set(answers)) == 1
    assert answers[0][0] == answers[0][1]


@pytest.mark.parametrize(("path", "transport"), WIRES)
def test_a_prompt_past_the_context_says_why_on_every_wire(server, path, transport):
    with pytest.raises(errors.InvalidRequestError, match="maximum context length"):
        llm_magics.complete(TOO_LONG, **options(server, path, transport))
    with pytest.raises(errors.ServerError, match="empty body") as info:
        "".join(llm_magics.stream(TOO_LONG, **options(server, path, transport)))
    assert "without streaming" in info.value.message
