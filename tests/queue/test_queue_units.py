"""Pure pieces of the queue: priority mapping, messages, errors as values, config, URL masking."""

from __future__ import annotations

import json

import pytest

import llm_magics.queue as queue
from llm_magics import errors
from llm_magics.core.call_stats import CallStats
from llm_magics.core.types import Request, Response, Usage
from llm_magics.queue.app import make_app
from llm_magics.queue.config import (
    PRIORITY_LEVELS,
    QUEUE_NAME,
    QueueConfig,
    level_for,
    priority_for_level,
)
from llm_magics.queue.health import mask_url
from llm_magics.queue.messages import (
    decode_request,
    decode_result,
    encode_error,
    encode_request,
    encode_response,
)

REQ = Request([{"role": "user", "content": "hi"}], "m", "http://h/v1", {"temperature": 0},
              "high")


def test_public_api_is_pinned():
    assert sorted(queue.__all__) == sorted([
        "map", "amap", "run_requests", "arun_requests",
        "QueueRun", "QueueConfig", "PRIORITY_LEVELS", "make_app", "get_app", "check_broker",
        "check_workers", "RedisRateLimiter", "RedisLimiterFactory", "store_limits",
        "QueueError", "BrokerUnavailableError", "NoWorkerError",
    ])
    for name in queue.__all__:
        assert hasattr(queue, name), name


def test_interactive_outranks_high_outranks_bulk_with_zero_highest():
    assert PRIORITY_LEVELS == {"interactive": 0, "high": 3, "bulk": 9}
    for name in PRIORITY_LEVELS:
        assert priority_for_level(level_for(name)) == name
    assert priority_for_level(None) == "bulk"
    with pytest.raises(ValueError, match="interactive, high, bulk"):
        level_for("urgent")


def test_app_settings_make_priorities_and_redelivery_real():
    conf = make_app("redis://127.0.0.1:1/0", QueueConfig(visibility_timeout_s=42)).conf
    transport = conf.broker_transport_options
    assert transport["queue_order_strategy"] == "priority"
    assert transport["priority_steps"] == list(range(10))
    assert transport["visibility_timeout"] == 42
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == conf.result_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_default_queue == QUEUE_NAME
    assert conf.task_default_priority == PRIORITY_LEVELS["bulk"]


def test_config_reads_the_environment(monkeypatch):
    monkeypatch.setenv("LLM_MAGICS_QUEUE_VISIBILITY_TIMEOUT", "12.5")
    monkeypatch.setenv("LLM_MAGICS_QUEUE_POLL_WINDOW", "7")
    config = QueueConfig.from_env(ping_timeout_s=0.5)
    assert (config.visibility_timeout_s, config.poll_window, config.ping_timeout_s) == (
        12.5, 7, 0.5)


def test_a_task_message_holds_the_request_and_no_key():
    message = encode_request(REQ)
    assert set(message) == {"base_url", "model", "messages", "params"}
    json.dumps(message)  # JSON-safe
    request, use_cache = decode_request(message, "high")
    assert request == REQ and request.cache_key() == REQ.cache_key() and use_cache
    assert encode_request(REQ, use_cache=False)["cache"] is False


def test_a_message_that_is_not_ours_is_refused():
    with pytest.raises(errors.InvalidRequestError, match="base_url, model, messages, params"):
        decode_request({"prompt": "x"}, "bulk")


def test_a_response_survives_the_result_backend():
    stats = CallStats(attempts=2, retries=1, rate_limited=1)
    response = Response("text", "m", Usage(3, 4), cost_usd=0.1, finish_reason="stop")
    outcome, worker_stats = decode_result(json.loads(json.dumps(encode_response(response,
                                                                                stats))))
    assert isinstance(outcome, Response)
    assert (outcome.text, outcome.usage, outcome.cost_usd, outcome.cached) == (
        "text", Usage(3, 4), 0.1, False)
    assert worker_stats == {"attempts": 2, "retries": 1, "rate_limited": 1}


@pytest.mark.parametrize("err", [
    errors.RateLimitError("slow down", status_code=429, retry_after_s=2.0, request_id="r1"),
    errors.InvalidRequestError("bad", status_code=400),
    errors.StreamInterruptedError("broke", partial_text="half"),
    queue.NoWorkerError("none"),
])
def test_errors_come_back_as_the_same_class_with_their_context(err):
    outcome, _ = decode_result(json.loads(json.dumps(encode_error(err, CallStats()))))
    assert type(outcome) is type(err) and outcome == err
    for attr in ("status_code", "retry_after_s", "request_id", "partial_text"):
        assert getattr(outcome, attr, None) == getattr(err, attr, None)


def test_an_unknown_result_is_an_error_value_not_a_crash():
    outcome, _ = decode_result("surprise")
    assert isinstance(outcome, errors.LLMError) and "unexpected" in outcome.message


def test_redis_passwords_are_masked():
    assert mask_url("redis://:hunter2@db:6380/1") == "redis://:***@db:6380/1"
    assert mask_url("redis://user:hunter2@db/0") == "redis://user:***@db/0"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_row_deadlines_expire_oldest_first_and_only_pending_rows():
    from llm_magics.queue.deadline import RowDeadlines

    now = [100.0]
    deadlines = RowDeadlines(5.0, clock=lambda: now[0])
    deadlines.queued("a")
    now[0] += 1
    deadlines.queued("b")
    deadlines.queued("c")
    now[0] += 4.5  # a is 5.5 s old, b and c 4.5 s
    assert deadlines.expired({"a", "b", "c"}) == ["a"]
    now[0] += 1
    assert deadlines.expired({"c"}) == ["c"]  # b finished meanwhile
    assert "deadline_s=5" in deadlines.error().message
    never = RowDeadlines(None, clock=lambda: now[0])
    never.queued("a")
    now[0] += 10**6
    assert never.expired({"a"}) == []
