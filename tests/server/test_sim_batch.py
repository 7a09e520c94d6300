"""Files and Batch API end to end through the official SDK, with a compressed lifecycle."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI

from llm_magics.server.sim import SimConfig, expected_answer
from tests.support.batch_api import jsonl, line, passed_through, upload, wait
from tests.support.sim import Simulator
from tests.support.sim import chat_body as body
from tests.support.waiting import wait_until


@pytest.fixture
def bsim() -> Iterator[Simulator]:
    with Simulator(batch_step_s=0.05) as simulator:
        yield simulator


@pytest.fixture
def bclient(bsim: Simulator) -> Iterator[OpenAI]:
    with OpenAI(base_url=bsim.base_url, api_key="sk-test", max_retries=0, timeout=10) as c:
        yield c


def test_batch_completes_with_same_answers_as_sync(bclient: OpenAI, bsim: Simulator) -> None:
    requests = {f"row-{i}": body(f"translate {i}") for i in range(5)}
    requests["short"] = body("cut me", max_tokens=3)
    requests["bad"] = body("STATUS:400 reject me")
    file_id = upload(bclient, [line(cid, req) for cid, req in requests.items()])

    created = bclient.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h",
        metadata={"job": "t1"},
    )
    assert created.status == "validating" and created.metadata == {"job": "t1"}
    assert created.expires_at - created.created_at == 86_400
    batch, seen = wait(bclient, created.id)

    assert passed_through(seen, ["validating", "in_progress", "finalizing", "completed"]), seen
    assert batch.request_counts.total == 7
    assert batch.request_counts.completed == 6 and batch.request_counts.failed == 1
    assert batch.created_at <= batch.in_progress_at <= batch.finalizing_at <= batch.completed_at

    outputs = {row["custom_id"]: row for row in jsonl(bclient, batch.output_file_id)}
    assert set(outputs) == set(requests) - {"bad"}
    sync = OpenAI(base_url=bsim.base_url, api_key="sk-test", max_retries=0)
    for cid, row in outputs.items():
        assert row["id"].startswith("batch_req_") and row["error"] is None
        assert row["response"]["status_code"] == 200 and row["response"]["request_id"]
        completion = row["response"]["body"]
        text = completion["choices"][0]["message"]["content"]
        assert text == expected_answer(requests[cid], SimConfig())
        assert text == sync.chat.completions.create(**requests[cid]).choices[0].message.content
    assert outputs["short"]["response"]["body"]["choices"][0]["finish_reason"] == "length"

    errors = jsonl(bclient, batch.error_file_id)
    assert [row["custom_id"] for row in errors] == ["bad"]
    assert errors[0]["response"]["status_code"] == 400
    assert errors[0]["response"]["body"]["error"]["message"]

    output_file = bclient.files.retrieve(batch.output_file_id)
    assert output_file.purpose == "batch_output" and output_file.bytes > 0
    assert bsim.stats["batches"] == {"created": 1, "lines": 7, "completed": 1}
    assert bsim.stats["chat_requests"] == len(requests) - 1  # only the sync calls above


def test_invalid_input_fails_with_line_errors(bclient: OpenAI) -> None:
    file_id = upload(
        bclient,
        [
            line("a", body("ok")),
            "{not json",
            json.dumps({"method": "POST", "url": "/v1/chat/completions", "body": body("x")}),
            line("a", body("dup")),
            line("c", body("x"), url="/v1/embeddings"),
        ],
    )
    created = bclient.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch, seen = wait(bclient, created.id)
    assert passed_through(seen, ["validating", "failed"]), seen
    assert batch.failed_at is not None and batch.output_file_id is None
    errors = [(e.code, e.line, e.param) for e in batch.errors.data]
    assert errors == [
        ("invalid_json_line", 2, None),
        ("missing_required_parameter", 3, "custom_id"),
        ("duplicate_custom_id", 4, "custom_id"),
        ("invalid_url", 5, "url"),
    ]
    assert all(e.message for e in batch.errors.data)


def test_empty_input_fails(bclient: OpenAI) -> None:
    file_id = upload(bclient, [])
    created = bclient.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch, _ = wait(bclient, created.id)
    assert batch.status == "failed" and batch.errors.data[0].code == "empty_file"


def test_expire_after_fraction_gives_partial_output(bclient: OpenAI, bsim: Simulator) -> None:
    bsim.configure(batch_expire_after_fraction=0.5)
    ids = [f"r{i}" for i in range(6)]
    file_id = upload(bclient, [line(cid, body(cid)) for cid in ids])
    created = bclient.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch, seen = wait(bclient, created.id)
    assert passed_through(seen, ["validating", "in_progress", "expired"]), seen
    assert batch.expired_at is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (3, 3)
    done = [row["custom_id"] for row in jsonl(bclient, batch.output_file_id)]
    expired = jsonl(bclient, batch.error_file_id)
    assert done == ids[:3]
    assert [row["custom_id"] for row in expired] == ids[3:]
    assert all(row["response"] is None for row in expired)
    assert {row["error"]["code"] for row in expired} == {"batch_expired"}


def test_a_stalled_batch_never_completes_until_cancelled_then_hands_back_what_it_ran(
    bclient: OpenAI, bsim: Simulator
) -> None:
    bsim.configure(batch_stall_after_fraction=0.5)
    ids = [f"r{i}" for i in range(6)]
    file_id = upload(bclient, [line(cid, body(cid)) for cid in ids])
    created = bclient.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    wait_until(lambda: bclient.batches.retrieve(created.id).request_counts.completed == 3,
               what="half the lines answered")
    assert bclient.batches.retrieve(created.id).status == "in_progress"
    # it stays there: twenty more lifecycle steps answer nothing more
    time.sleep(20 * bsim.config.batch_step_s)
    batch = bclient.batches.retrieve(created.id)
    assert (batch.status, batch.request_counts.completed) == ("in_progress", 3)
    bclient.batches.cancel(created.id)
    batch, _ = wait(bclient, created.id)
    assert batch.status == "cancelled"
    assert [row["custom_id"] for row in jsonl(bclient, batch.output_file_id)] == ids[:3]
    assert {row["error"]["code"] for row in jsonl(bclient, batch.error_file_id)} == {
        "batch_cancelled"}


def test_compressed_window_expires_a_slow_batch(bclient: OpenAI, bsim: Simulator) -> None:
    bsim.configure(batch_time_scale=86_400, batch_line_s=0.3)  # 24 h last one second
    file_id = upload(bclient, [line(f"r{i}", body(str(i))) for i in range(10)])
    created = bclient.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert created.expires_at - created.created_at == 1
    batch, _ = wait(bclient, created.id)
    assert batch.status == "expired"
    assert 0 < batch.request_counts.completed < 10
    assert batch.request_counts.completed + batch.request_counts.failed == 10


def test_cancel_mid_way(bclient: OpenAI, bsim: Simulator) -> None:
    bsim.configure(batch_line_s=0.05)
    ids = [f"r{i}" for i in range(40)]
    file_id = upload(bclient, [line(cid, body(cid)) for cid in ids])
    created = bclient.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    deadline = time.monotonic() + 5
    while bclient.batches.retrieve(created.id).request_counts.completed < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    cancelling = bclient.batches.cancel(created.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    batch, seen = wait(bclient, created.id)
    assert passed_through(seen, ["cancelling", "cancelled"]), seen
    assert batch.cancelled_at is not None
    done = jsonl(bclient, batch.output_file_id)
    skipped = jsonl(bclient, batch.error_file_id)
    assert 2 <= len(done) < 40 and len(done) + len(skipped) == 40
    assert {row["error"]["code"] for row in skipped} == {"batch_cancelled"}
    assert batch.request_counts.completed == len(done)
    with pytest.raises(openai.APIStatusError) as info:
        bclient.batches.cancel(created.id)
    assert info.value.status_code == 409


def test_cancel_while_validating(bclient: OpenAI, bsim: Simulator) -> None:
    bsim.configure(batch_step_s=0.3)
    file_id = upload(bclient, [line("a", body("a"))])
    created = bclient.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert bclient.batches.cancel(created.id).status == "cancelling"
    batch, _ = wait(bclient, created.id)
    assert batch.status == "cancelled" and batch.in_progress_at is None
    assert batch.output_file_id is None


def test_files_api(bclient: OpenAI) -> None:
    data = b'{"x": 1}\n'
    created = bclient.files.create(file=("mine.jsonl", data), purpose="batch")
    assert created.filename == "mine.jsonl" and created.bytes == len(data)
    assert created.purpose == "batch" and created.id.startswith("file-")
    assert bclient.files.retrieve(created.id).id == created.id
    assert bclient.files.content(created.id).content == data
    assert created.id in [f.id for f in bclient.files.list(purpose="batch")]
    assert created.id not in [f.id for f in bclient.files.list(purpose="batch_output")]
    assert bclient.files.delete(created.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        bclient.files.retrieve(created.id)
    with pytest.raises(openai.BadRequestError):
        bclient.files.create(file=("x.jsonl", data), purpose="nonsense")  # type: ignore[arg-type]


def test_batch_list_retrieve_and_bad_requests(bclient: OpenAI) -> None:
    file_id = upload(bclient, [line("a", body("a"))])
    made = [
        bclient.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        ).id
        for _ in range(3)
    ]
    listed = [b.id for b in bclient.batches.list(limit=2)]  # auto-paginates past 2
    assert listed == list(reversed(made))
    with pytest.raises(openai.NotFoundError):
        bclient.batches.retrieve("batch_missing")
    with pytest.raises(openai.BadRequestError):
        bclient.batches.create(
            input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
        )
    with pytest.raises(openai.BadRequestError):
        bclient.batches.create(
            input_file_id="file-missing", endpoint="/v1/chat/completions", completion_window="24h"
        )
    for batch_id in made:
        assert wait(bclient, batch_id)[0].status == "completed"
