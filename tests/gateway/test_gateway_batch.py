"""The Batch API over an upstream that has none: lifecycle, formats, cancel, expiry, faults."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from openai import OpenAI

import llm_magics
import llm_magics.batch as library_batch
from llm_magics.server.sim import SimConfig, expected_answer
from tests.support.batch_api import jsonl, line, start_batch, wait
from tests.support.gateway import Gateway
from tests.support.sim import Simulator
from tests.support.sim import chat_body as user


def test_batch_lifecycle_and_formats(client: OpenAI, sim: Simulator) -> None:
    requests = {f"row-{i}": user(f"translate {i}") for i in range(6)}
    requests["short"] = user("cut me", max_tokens=3)
    requests["bad"] = user("STATUS:400 reject me")
    file_id = client.files.create(
        file=("input.jsonl", "\n".join(line(c, b) for c, b in requests.items()).encode()),
        purpose="batch").id
    created = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                    completion_window="24h", metadata={"job": "g1"})
    assert created.status == "validating" and created.metadata == {"job": "g1"}
    assert created.expires_at - created.created_at == 86_400
    batch, seen = wait(client, created.id)

    assert batch.status == "completed"
    order = ["validating", "in_progress", "finalizing", "completed"]
    assert seen == sorted(seen, key=order.index)  # never backwards
    assert batch.request_counts.total == 8
    assert (batch.request_counts.completed, batch.request_counts.failed) == (7, 1)
    assert batch.created_at <= batch.in_progress_at <= batch.finalizing_at <= batch.completed_at

    outputs = jsonl(client, batch.output_file_id)
    assert [row["custom_id"] for row in outputs] == [c for c in requests if c != "bad"]
    for row in outputs:
        assert row["id"].startswith("batch_req_") and row["error"] is None
        assert row["response"]["status_code"] == 200 and row["response"]["request_id"]
        body = row["response"]["body"]
        assert body["object"] == "chat.completion" and body["usage"]["total_tokens"] > 0
        expected = expected_answer(requests[row["custom_id"]], SimConfig())
        assert body["choices"][0]["message"]["content"] == expected
    short = next(r for r in outputs if r["custom_id"] == "short")
    assert short["response"]["body"]["choices"][0]["finish_reason"] == "length"

    [bad] = jsonl(client, batch.error_file_id)
    assert bad["custom_id"] == "bad" and bad["response"]["status_code"] == 400
    assert bad["response"]["body"]["error"]["message"]
    output_file = client.files.retrieve(batch.output_file_id)
    assert output_file.purpose == "batch_output" and output_file.bytes > 0
    assert [b.id for b in client.batches.list()] == [batch.id]
    assert sim.stats["chat_requests"] == 8  # each line ran exactly once


def test_library_batch_mode_works_through_the_gateway(gateway: Gateway, sim: Simulator) -> None:
    llm_magics.configure(base_url=gateway.base_url, api_key="k", model="sim-small")
    prompts = [f"Define word {i}" for i in range(12)]
    job = library_batch.submit(prompts, cache=False).wait(poll=0.05)
    results = job.results()
    assert [r.text for r in results] == [
        expected_answer(user(p), SimConfig()) for p in prompts]
    assert job.status().state == "completed"
    assert sim.stats["chat_requests"] == 12


def test_cancel_stops_a_running_batch(make_gateway: Callable[..., Gateway],
                                      sim: Simulator) -> None:
    gateway = make_gateway(concurrency=1)
    sim.configure(latency_s=0.05)
    with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as client:
        batch_id = start_batch(client, [line(f"l{i}", user(f"line {i}")) for i in range(40)])
        while client.batches.retrieve(batch_id).request_counts.completed < 3:
            pass
        cancelling = client.batches.cancel(batch_id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at
        batch, seen = wait(client, batch_id)
        assert batch.status == "cancelled" and seen[-1] == "cancelled"
        counts = batch.request_counts
        assert counts.total == 40 and counts.completed + counts.failed == 40
        assert 3 <= counts.completed < 40
        unrun = jsonl(client, batch.error_file_id)
        assert len(unrun) == counts.failed
        assert {r["error"]["code"] for r in unrun} == {"batch_cancelled"}
        assert all(r["response"] is None for r in unrun)
        done = {r["custom_id"] for r in jsonl(client, batch.output_file_id)}
        assert done.isdisjoint(r["custom_id"] for r in unrun)
    assert sim.stats["chat_requests"] <= counts.completed + 1  # at most the one in flight


def test_window_end_expires_the_unrun_lines(make_gateway: Callable[..., Gateway],
                                            sim: Simulator) -> None:
    gateway = make_gateway(concurrency=1, batch_window_s=1.0)
    sim.configure(latency_s=0.15)
    with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as client:
        batch_id = start_batch(client, [line(f"l{i}", user(f"line {i}")) for i in range(20)])
        batch, _ = wait(client, batch_id)
        assert batch.status == "expired" and batch.expired_at
        counts = batch.request_counts
        assert 1 <= counts.completed < 20 and counts.completed + counts.failed == 20
        expired = jsonl(client, batch.error_file_id)
        assert {r["error"]["code"] for r in expired} == {"batch_expired"}
        assert len(expired) == counts.failed


def test_transient_upstream_failures_are_retried_not_failed(
        fast_retries: None, monkeypatch: pytest.MonkeyPatch,
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    monkeypatch.setenv("LLM_MAGICS_MAX_RETRIES", "0")  # only the batch's own rounds retry
    gateway = make_gateway()
    sim.configure(fail_status=503)
    with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as client:
        batch_id = start_batch(client, [line(f"l{i}", user(f"line {i}")) for i in range(10)])
        while sim.stats["server_errors"] == 0:
            pass
        assert client.batches.retrieve(batch_id).status == "in_progress"
        sim.configure(fail_status=None)
        batch, _ = wait(client, batch_id)
    assert batch.status == "completed"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (10, 0)
    assert sim.stats["server_errors"] >= 1 and sim.stats["chat_ok"] == 10


def test_batch_lines_reuse_answers_already_in_the_cache(client: OpenAI, sim: Simulator) -> None:
    warm = user("asked before")
    client.chat.completions.create(**warm)
    batch, _ = wait(client, start_batch(client, [line("a", warm), line("b", user("new"))]))
    assert batch.status == "completed" and batch.request_counts.completed == 2
    assert sim.stats["chat_requests"] == 2  # the sync call and "new"; "a" came from the cache
