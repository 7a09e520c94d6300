"""The worker side without Celery: what one task does with a message, against the simulator."""

from __future__ import annotations

import pytest
from queue_helpers import MODEL, WORKER_KEY, body, requests

from llm_magics import errors
from llm_magics.core.settings import resolve
from llm_magics.core.types import Response
from llm_magics.queue.messages import decode_result, encode_request
from llm_magics.queue.runtime import WorkerRuntime
from llm_magics.server.sim import expected_answer


@pytest.fixture
def runtime(redis_url, sim, tmp_path):
    settings = resolve(base_url=sim.base_url, api_key=WORKER_KEY, model=MODEL,
                       cache_path=tmp_path / "worker.sqlite")
    return WorkerRuntime(redis_url, settings)


def run(runtime: WorkerRuntime, message: dict, task_id: str = "task-1"
        ) -> Response | errors.LLMError:
    outcome, _ = decode_result(runtime.execute(message, priority="bulk", task_id=task_id))
    return outcome


def test_a_task_answers_with_the_workers_own_key(runtime, sim):
    (request,) = requests(1, sim.base_url)
    outcome = run(runtime, encode_request(request))
    # The simulator refuses calls without WORKER_KEY, and the message never held it.
    assert isinstance(outcome, Response), outcome
    assert outcome.text == expected_answer(body(request))
    assert WORKER_KEY not in str(encode_request(request))


def test_a_redelivered_task_whose_answer_is_stored_does_not_pay_twice(runtime, sim):
    (request,) = requests(1, sim.base_url)
    first = run(runtime, encode_request(request))
    again = run(runtime, encode_request(request))  # what a redelivery looks like
    assert sim.stats["chat_requests"] == 1
    # The task's own paid answer: its first result may never have reached the submitter.
    assert isinstance(again, Response) and not again.cached and again.text == first.text
    other = run(runtime, encode_request(request), task_id="task-2")  # same request, new task
    assert isinstance(other, Response) and other.cached and other.text == first.text
    assert sim.stats["chat_requests"] == 1


def test_cache_false_in_the_message_asks_the_server_again(runtime, sim):
    (request,) = requests(1, sim.base_url)
    run(runtime, encode_request(request))
    fresh = run(runtime, encode_request(request, use_cache=False), task_id="task-2")
    assert sim.stats["chat_requests"] == 2 and not fresh.cached


def test_a_worker_does_not_send_its_key_to_another_base_url(runtime, sim):
    (request,) = requests(1, "http://elsewhere.invalid/v1")
    outcome = run(runtime, encode_request(request))
    assert isinstance(outcome, errors.ConfigurationError)
    assert "OPENAI_BASE_URL=http://elsewhere.invalid/v1 llm-magics worker" in outcome.message
    assert sim.stats["chat_requests"] == 0


def test_a_refused_request_comes_back_as_an_error_value(runtime, sim):
    (request,) = requests(1, sim.base_url)
    message = encode_request(request)
    message["messages"] = [{"role": "user", "content": "STATUS:400 nope"}]
    outcome = run(runtime, message)
    assert isinstance(outcome, errors.InvalidRequestError) and outcome.status_code == 400


def test_a_malformed_message_is_an_error_value(runtime):
    outcome = run(runtime, {"hello": "world"})
    assert isinstance(outcome, errors.InvalidRequestError)
