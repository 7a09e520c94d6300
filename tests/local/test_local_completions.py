"""The real SmolLM2 behind llama.cpp's server, through the official openai SDK."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

from openai import OpenAI

from llm_magics import local
from llm_magics.local.compat import adapt_request
from llm_magics.local.procs import cmdline

HELLO = [{"role": "user", "content": "Say hello to Ada in one short sentence."}]


def test_server_is_on_loopback_and_lists_its_model(server: local.LocalServer,
                                                   client: OpenAI) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.model == local.DEFAULT_MODEL_ID
    argv = cmdline(server.pid) or []
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert server.model in [m.id for m in client.models.list().data]


def test_chat_completion_has_text_and_counted_usage(server: local.LocalServer,
                                                    client: OpenAI) -> None:
    reply = client.chat.completions.create(model=server.model, messages=HELLO, max_tokens=16)
    assert reply.choices[0].message.content.strip()
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 16
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_a_hosted_model_name_is_answered_by_the_local_model(server: local.LocalServer,
                                                            client: OpenAI) -> None:
    name = local.map_model_name("gpt-4o-mini", server.model)
    assert name == server.model
    # The server also accepts the hosted name itself and answers with its one model.
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=8)
    assert reply.choices[0].message.content.strip()


def test_streaming_yields_several_deltas_then_a_finish_reason(server: local.LocalServer,
                                                              client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model=server.model, messages=HELLO, max_tokens=12, stream=True,
        extra_body={"min_tokens": 12},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta.content for c in chunks
              if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 5
    assert "".join(deltas).strip()
    assert chunks[-1].choices[0].finish_reason in ("length", "stop")


def test_concurrent_streams_all_finish_in_full(server: local.LocalServer,
                                               client: OpenAI) -> None:
    # llama-cpp-python's default would cut a running stream short when another request
    # waits; the server queues them instead, so each stream gets all its tokens.
    def count(_: int) -> int:
        stream = client.chat.completions.create(
            model=server.model, messages=HELLO, max_tokens=10, stream=True,
            extra_body={"min_tokens": 10},
        )
        return sum(1 for c in stream if c.choices and c.choices[0].delta.content)

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(count, range(3))) == [10, 10, 10]


def test_json_schema_requests_are_adapted_to_the_servers_grammar(server: local.LocalServer,
                                                                 client: OpenAI) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    body = adapt_request({
        "model": server.model, "max_tokens": 24,
        "messages": [{"role": "user", "content": "Reply with a JSON object."}],
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "r", "schema": schema, "strict": True}},
    })
    assert body["response_format"] == {"type": "json_object", "schema": schema}
    reply = client.chat.completions.create(**body)
    assert isinstance(json.loads(reply.choices[0].message.content)["ok"], bool)


def test_max_completion_tokens_bounds_the_answer(server: local.LocalServer,
                                                 client: OpenAI) -> None:
    """The server knows only ``max_tokens``: unrenamed, this bound would be ignored."""
    body = adapt_request({"model": server.model, "messages": HELLO, "max_completion_tokens": 3})
    reply = client.chat.completions.create(**body)
    assert reply.usage.completion_tokens <= 3 and reply.choices[0].finish_reason == "length"


def test_ensure_server_and_start_reuse_the_running_server(server: local.LocalServer) -> None:
    first = local.ensure_server()
    assert first.pid == server.pid and first.port == server.port
    assert local.ensure_server() is first  # the per-call fast path: no new process, no HTTP
    assert local.start().pid == server.pid


def test_status_describes_the_running_server(server: local.LocalServer) -> None:
    info = local.status()
    assert info["running"] and info["healthy"]
    assert (info["pid"], info["port"], info["model"]) == (server.pid, server.port, server.model)
    assert info["mode"] == "owned" and info["owner_pid"] == os.getpid()
    assert info["base_url"].endswith("/v1")
    assert os.path.getsize(info["model_path"]) > 50 * 2**20
