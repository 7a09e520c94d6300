"""Requests to JSONL lines and stored records back to values, without a server."""

from __future__ import annotations

import json

import pytest

from llm_magics import errors
from llm_magics.core.batch.constants import BATCH_ENDPOINT
from llm_magics.core.batch.jsonl import (
    build_line,
    custom_id_for,
    outcome_from_record,
    parse_jsonl,
    read_record,
    synthetic_record,
)
from llm_magics.core.batch.submit import prepare_lines
from llm_magics.core.cost import cost_usd
from llm_magics.core.types import Request, Response, Usage

URL = "http://sim/v1"


def req(text: str, model: str = "gpt-4o-mini", **params) -> Request:
    return Request([{"role": "user", "content": text}], model, URL, params)


def ok_record(cid: str, text: str = "bonjour", model: str = "gpt-4o-mini") -> dict:
    body = {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50}}
    return {"id": "batch_req_1", "custom_id": cid,
            "response": {"status_code": 200, "request_id": "req_1", "body": body}, "error": None}


def test_custom_id_is_stable_for_the_same_input_and_unique_per_position():
    key = req("hello").cache_key()
    assert custom_id_for(3, key) == custom_id_for(3, req("hello").cache_key())
    assert custom_id_for(3, key) != custom_id_for(4, key)
    assert custom_id_for(3, key) == f"req-3-{key[:12]}"


def test_a_line_is_the_batch_api_request_shape():
    r = req("héllo", temperature=0)
    line = build_line("req-0-abc", r.body())
    assert "\n" not in line and "héllo" in line  # one line, UTF-8 kept as is
    assert json.loads(line) == {"custom_id": "req-0-abc", "method": "POST",
                                "url": BATCH_ENDPOINT, "body": r.body()}


def test_prepare_lines_shares_identical_requests_and_keeps_every_slot():
    bad = errors.InvalidRequestError("The prompt is empty.")
    prepared = prepare_lines([req("a"), None, req("b"), bad, req("a")], max_bytes=10_000)
    cids = [cid for cid, _, _ in prepared.lines]
    assert len(cids) == 2  # "a" twice is one line
    assert prepared.positions[0] == prepared.positions[4] == cids[0]
    assert prepared.positions[0].startswith("req-0-") and cids[1].startswith("req-2-")
    assert prepared.positions[1] is None
    assert prepared.positions[3] == {"type": "InvalidRequestError",
                                     "message": "The prompt is empty.", "status_code": None}


def test_a_request_too_big_for_a_batch_file_is_an_error_in_its_slot():
    prepared = prepare_lines([req("x" * 500), req("small")], max_bytes=300)
    assert [cid for cid, _, _ in prepared.lines] == [prepared.positions[1]]
    assert prepared.positions[0]["type"] == "InvalidRequestError"
    assert "at most 300" in prepared.positions[0]["message"]


def test_parse_jsonl_skips_a_corrupt_line_and_keeps_the_others():
    good = json.dumps(ok_record("req-1-a"))
    content = f"{good}\n{{not json\n\n{json.dumps([1])}\n".encode()
    assert parse_jsonl(content) == [(ok_record("req-1-a"), good)]


def test_an_answer_becomes_a_response_priced_at_half_the_sync_price():
    result = read_record(ok_record("req-0-a"), "gpt-4o-mini")
    sync = cost_usd("gpt-4o-mini", Usage(100, 50))
    assert result.ok and (result.prompt_tokens, result.completion_tokens) == (100, 50)
    assert result.sync_cost_usd == pytest.approx(sync)
    assert result.cost_usd == pytest.approx(sync / 2)
    outcome = outcome_from_record(json.loads(result.record), "gpt-4o-mini", URL)
    assert isinstance(outcome, Response)
    assert (outcome.text, outcome.finish_reason, outcome.usage) == ("bonjour", "stop",
                                                                    Usage(100, 50))
    assert outcome.cost_usd == pytest.approx(sync / 2)


@pytest.mark.parametrize(("status", "cls"), [
    (400, errors.InvalidRequestError), (401, errors.AuthenticationError),
    (404, errors.ModelNotFoundError), (429, errors.RateLimitError), (500, errors.ServerError),
])
def test_a_refused_line_becomes_the_error_a_sync_call_would_raise(status, cls):
    record = {"custom_id": "c", "error": None, "response": {
        "status_code": status, "request_id": "req_9",
        "body": {"error": {"message": "nope, said the server"}}}}
    assert not read_record(record, "m").ok
    outcome = outcome_from_record(record, "m", URL)
    assert type(outcome) is cls
    assert "nope, said the server" in outcome.message
    assert (outcome.status_code, outcome.request_id) == (status, "req_9")


@pytest.mark.parametrize(("code", "cls", "retryable"), [
    ("batch_expired", errors.APITimeoutError, True),
    ("batch_cancelled", errors.CancelledError, False),
    ("batch_failed", errors.InvalidRequestError, False),
])
def test_a_line_that_never_ran_says_why(code, cls, retryable):
    outcome = outcome_from_record(synthetic_record("c", code, "the reason"), "m", URL)
    assert type(outcome) is cls and outcome.retryable is retryable
    assert "the reason" in outcome.message
    assert ("retry_failed" in outcome.message) is (code != "batch_failed")
