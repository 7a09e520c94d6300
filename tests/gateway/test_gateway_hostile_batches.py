"""A tenant's batch input must not cost the shared gateway more than OpenAI would accept.

The gateway parses a batch file and keeps its lines in memory while it runs
them; a 200 MB upload of tiny lines is over a million requests (gigabytes of
parsed bodies). OpenAI caps a batch at 50,000 requests; so does the gateway,
before parsing a line.
"""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest
from hostile import KEY_A, KEY_B
from openai import OpenAI

from llm_magics.server.constants import MAX_BATCH_LINES
from tests.support.batch_api import line, start_batch, upload, wait
from tests.support.gateway import Gateway
from tests.support.sim import Simulator
from tests.support.sim import chat_body as user


def create(client: OpenAI, file_id: str) -> str:
    return client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                 completion_window="24h").id


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


def test_a_key_runs_a_bounded_number_of_batches_at_once(
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    """Each running batch holds its pending lines in memory: a key that starts hundreds
    from one file would hold hundreds of copies. Past the cap it is told to wait."""
    sim.configure(latency_s=30)  # nothing finishes while the test runs
    gateway = make_gateway(client_keys=(KEY_A, KEY_B), max_active_batches=2)
    with OpenAI(base_url=gateway.base_url, api_key=KEY_A, max_retries=0) as a, \
            OpenAI(base_url=gateway.base_url, api_key=KEY_B, max_retries=0) as b:
        file_id = upload(a, [line("1", user("x", max_tokens=1))])
        running = [create(a, file_id) for _ in range(2)]
        with pytest.raises(openai.RateLimitError) as refused:
            create(a, file_id)
        assert refused.value.code == "too_many_active_batches"
        assert "2 batches in progress" in refused.value.message
        assert b.batches.retrieve(create(b, upload(b, [line("1", user("y"))]))).status \
            != "failed"  # another key is not affected
        a.batches.cancel(running[0])
        wait(a, running[0])
        assert create(a, file_id)  # a finished batch frees its place


def test_a_key_stores_a_bounded_number_of_bytes(make_gateway: Callable[..., Gateway]) -> None:
    """Uploads are kept until deleted: without a cap one key could fill the disk every
    tenant's batches, outputs and caches are written to."""
    gateway = make_gateway(client_keys=(KEY_A, KEY_B), max_file_mb=1, max_storage_mb=1)
    chunk = ("x" * 600_000).encode()
    with OpenAI(base_url=gateway.base_url, api_key=KEY_A, max_retries=0) as a, \
            OpenAI(base_url=gateway.base_url, api_key=KEY_B, max_retries=0) as b:
        first = a.files.create(file=("a.jsonl", chunk), purpose="batch").id
        with pytest.raises(openai.BadRequestError) as full:
            a.files.create(file=("b.jsonl", chunk), purpose="batch")
        assert full.value.code == "storage_limit_exceeded"
        assert "Delete files" in full.value.message and "--max-storage-mb" in full.value.message
        assert [f.id for f in a.files.list()] == [first]  # nothing half-stored
        assert b.files.create(file=("b.jsonl", chunk), purpose="batch").id  # B's own room
        a.files.delete(first)
        assert a.files.create(file=("c.jsonl", chunk), purpose="batch").id


@pytest.mark.parametrize("metadata, code", [
    ({f"k{i}": "v" for i in range(17)}, "object_above_max_properties"),
    ({"k": "v" * 513}, "string_above_max_length"),
    ({"k" * 65: "v"}, "string_above_max_length"),
    ({"k": {"nested": "x" * 1000}}, "invalid_type"),
])
def test_batch_metadata_is_bounded_as_openai_bounds_it(
        make_gateway: Callable[..., Gateway], metadata: dict, code: str) -> None:
    """A batch record stays after it ends; unbounded metadata (up to the 4 MB body) on
    thousands of small batches would fill the shared disk past any file quota."""
    gateway = make_gateway(client_keys=(KEY_A,))
    with OpenAI(base_url=gateway.base_url, api_key=KEY_A, max_retries=0) as a:
        file_id = upload(a, [line("1", user("x", max_tokens=1))])
        with pytest.raises(openai.BadRequestError) as refused:
            a.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                             completion_window="24h", metadata=metadata)
        assert refused.value.code == code and refused.value.param == "metadata"
        assert a.batches.list().data == []
        full = {f"k{i}": "v" * 512 for i in range(16)}
        created = a.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                   completion_window="24h", metadata=full)
        assert created.metadata == full
