"""The batch path end to end against the simulator's /v1/files and /v1/batches."""

from __future__ import annotations

import json
import time

import pytest
from batch_helpers import API_KEY, MODEL, POLL, batch_lines, chat_body
from flaky_proxy import FlakyProxy

import llm_magics
import llm_magics.batch as batch
from llm_magics import errors
from llm_magics.core.batch import Limits, submit_requests
from llm_magics.core.cost import cost_usd
from llm_magics.core.loop_thread import run_sync
from llm_magics.core.pipeline import build_requests, resolve_call
from llm_magics.core.settings import resolve
from llm_magics.server.sim import expected_answer


def texts(results) -> list:
    return [r.text if isinstance(r, llm_magics.Response) else r for r in results]


def test_a_thousand_requests_give_the_same_texts_as_map_in_the_same_order(llm):
    prompts = [f"Translate to French: item {i}" for i in range(1000)]
    started = time.perf_counter()
    job = batch.submit(prompts, cache=False)
    results = job.wait(poll=POLL).results()
    took = time.perf_counter() - started
    assert batch_lines(llm) == 1000 and llm.stats["chat_requests"] == 0

    sync = llm_magics.map(prompts, cache=False)
    assert llm.stats["chat_requests"] == 1000
    assert all(isinstance(r, llm_magics.Response) for r in results)
    assert texts(results) == texts(sync)
    assert results[7].text == expected_answer(chat_body(prompts[7]))
    summary = job.status()
    assert (summary.state, summary.total, summary.completed, summary.failed) == (
        "completed", 1000, 1000, 0)
    assert took < 10


def test_none_and_bad_prompts_keep_their_slots(llm):
    job = batch.submit(["one", None, "", "two"], cache=False).wait(poll=POLL)
    one, nothing, empty, two = job.results()
    assert one.text == expected_answer(chat_body("one"))
    assert two.text == expected_answer(chat_body("two"))
    assert nothing is None
    assert isinstance(empty, errors.InvalidRequestError) and "empty" in empty.message
    assert job.errors() == {2: empty}
    assert batch_lines(llm) == 2


def test_identical_prompts_are_sent_once_and_share_the_answer(llm):
    job = batch.submit(["same", "other", "same", "same"], cache=False).wait(poll=POLL)
    results = job.results()
    assert batch_lines(llm) == 2
    assert results[0] is results[2] is results[3]
    assert job.status().rows == 4 and job.status().total == 2


def test_system_prompt_and_request_params_reach_every_line(llm):
    job = batch.submit(["hello there"], system="Answer in French.", max_tokens=3,
                       cache=False).wait(poll=POLL)
    [answer] = job.results()
    body = chat_body("hello there", system="Answer in French.", max_tokens=3)
    assert answer.text == expected_answer(body)
    assert answer.finish_reason == "length" and answer.usage.completion_tokens == 3


def test_cached_answers_are_not_sent_and_batch_answers_fill_the_cache(llm):
    first = llm_magics.map(["cached one"])  # warms the response cache
    job = batch.submit(["cached one", "fresh one"]).wait(poll=POLL)
    cached, fresh = job.results()
    assert batch_lines(llm) == 1  # only "fresh one" went into the batch
    assert cached.cached and cached.text == first[0].text
    assert not fresh.cached
    assert job.status().cached == 1

    before = llm.stats["chat_requests"]
    again = llm_magics.complete("fresh one")
    assert again.cached and again.text == fresh.text
    assert llm.stats["chat_requests"] == before


def test_a_fully_cached_job_completes_without_a_batch(llm):
    llm_magics.map(["a", "b"])
    job = batch.submit(["a", "b"])
    summary = job.summary()
    assert (summary.state, summary.batches, summary.cached) == ("completed", 0, 2)
    assert texts(job.results()) == [expected_answer(chat_body(p)) for p in ("a", "b")]
    assert llm.stats["batches"].get("created", 0) == 0


def test_cost_is_the_batch_price_and_the_saving_is_the_other_half(llm):
    job = batch.submit([f"price {i}" for i in range(5)], cache=False).wait(poll=POLL)
    results = job.results()
    summary = job.status()
    sync = sum(cost_usd(MODEL, r.usage) for r in results)
    assert summary.sync_cost_usd == pytest.approx(sync)
    assert summary.cost_usd == pytest.approx(sync / 2)
    assert summary.saving_usd == pytest.approx(sync / 2) and summary.saving_usd > 0
    assert all(r.cost_usd == pytest.approx(cost_usd(MODEL, r.usage, batch=True))
               for r in results)
    assert job.cost_usd == pytest.approx(summary.cost_usd)
    assert summary.prompt_tokens == sum(r.usage.prompt_tokens for r in results)


def test_an_expired_batch_gives_partial_results_and_retry_failed_completes_them(llm):
    llm.configure(batch_expire_after_fraction=0.5)
    prompts = [f"expire {i}" for i in range(10)]
    job = batch.submit(prompts, cache=False).wait(poll=POLL)
    summary = job.status()
    assert (summary.state, summary.completed, summary.failed) == ("expired", 5, 5)
    partial = job.results()
    assert texts(partial[:5]) == [expected_answer(chat_body(p)) for p in prompts[:5]]
    assert all(isinstance(r, errors.APITimeoutError) and r.retryable for r in partial[5:])
    assert "retry_failed" in partial[5].message

    llm.configure(batch_expire_after_fraction=None)
    job.retry_failed().wait(poll=POLL)
    summary = job.status()
    assert (summary.state, summary.completed, summary.failed, summary.batches) == (
        "completed", 10, 0, 2)
    assert texts(job.results()) == [expected_answer(chat_body(p)) for p in prompts]
    assert batch_lines(llm) == 10  # 5 + the 5 resent, nothing twice
    assert job.retry_failed().status().batches == 2  # nothing left to retry: no new batch


def test_refused_lines_are_error_values_and_only_they_are_retried(llm):
    prompts = ["fine", "STATUS:429 slow down", "STATUS:400 bad", "also fine"]
    job = batch.submit(prompts, cache=False).wait(poll=POLL)
    fine, limited, bad, also = job.results()
    assert job.status().state == "completed"  # the batch completed; two lines were refused
    assert isinstance(limited, errors.RateLimitError) and limited.status_code == 429
    assert isinstance(bad, errors.InvalidRequestError) and bad.status_code == 400
    assert fine.text == expected_answer(chat_body("fine")) and also.text
    job.retry_failed().wait(poll=POLL)
    assert batch_lines(llm) == 6  # 4, then the 2 failed lines again
    assert job.results()[0] is not None and isinstance(job.results()[2], errors.LLMError)


def test_a_failed_batch_reports_the_servers_validation_errors(llm, tmp_path):
    lines = [
        {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
         "body": chat_body("ok")},
        {"custom_id": "b", "method": "POST", "url": "/v1/embeddings", "body": chat_body("x")},
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    job = batch.submit_jsonl(path).wait(poll=POLL)
    summary = job.status()
    assert summary.state == "failed"
    assert len(summary.errors) == 1
    assert "line 2: invalid_url: The URL provided for this request does not match" in (
        summary.errors[0])
    a, b = job.results()
    for err in (a, b):
        assert isinstance(err, errors.InvalidRequestError)
        assert "rejected by the server" in err.message and "line 2: invalid_url" in err.message


def test_submit_jsonl_returns_results_in_file_order(llm):
    bodies = [chat_body(f"file line {i}") for i in range(4)]
    data = "".join(json.dumps({"custom_id": f"row-{i}", "method": "POST",
                               "url": "/v1/chat/completions", "body": body}) + "\n"
                   for i, body in reversed(list(enumerate(bodies)))).encode()
    results = batch.submit_jsonl(data).wait(poll=POLL).results()
    assert texts(results) == [expected_answer(b) for b in reversed(bodies)]


def test_submit_jsonl_refuses_lines_it_cannot_map_back(llm):
    with pytest.raises(errors.InvalidRequestError, match="Line 2 .* no custom_id"):
        batch.submit_jsonl(b'{"custom_id": "a", "body": {}}\n{"body": {}}\n')
    with pytest.raises(errors.InvalidRequestError, match="repeats custom_id 'a'"):
        batch.submit_jsonl(b'{"custom_id": "a"}\n{"custom_id": "a"}\n')
    assert llm.stats["batches"].get("created", 0) == 0


def test_cancel_keeps_the_answers_so_far_and_marks_the_rest_cancelled(llm):
    llm.configure(batch_line_s=0.02)
    job = batch.submit([f"slow {i}" for i in range(60)], cache=False)
    deadline = time.monotonic() + 5
    while job.status().completed < 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert job.cancel().state in ("cancelling", "cancelled")
    job.wait(poll=POLL)
    summary = job.status()
    assert summary.state == "cancelled"
    results = job.results()
    done = [r for r in results if isinstance(r, llm_magics.Response)]
    cancelled = [r for r in results if isinstance(r, errors.CancelledError)]
    assert 3 <= len(done) < 60 and len(done) + len(cancelled) == 60
    assert summary.completed == len(done)
    assert job.cancel().state == "cancelled"  # cancelling an ended job is harmless


def test_a_job_over_the_limits_is_split_and_results_stay_in_order(llm):
    prompts = [f"split {i}" for i in range(20)]
    call = run_sync(resolve_call({}, "batch"))
    requests = build_requests(prompts, call)
    job = submit_requests(requests, call.endpoint, call.settings, use_cache=False,
                          limits=Limits(max_requests=7))
    assert job.summary().batches == 3
    assert texts(job.wait(poll=POLL).results()) == [
        expected_answer(chat_body(p)) for p in prompts]
    assert llm.stats["batches"]["created"] == 3


def test_a_job_is_split_by_bytes_too(llm):
    prompts = [f"bytes {i}" for i in range(6)]
    job = batch.submit(prompts, cache=False, limits=Limits(max_bytes=400)).wait(poll=POLL)
    assert job.status().batches >= 3  # ~170-byte lines, two per 400-byte file
    assert texts(job.results()) == [expected_answer(chat_body(p)) for p in prompts]


def test_every_state_is_recorded_with_a_timestamp(llm):
    job = batch.submit(["history"], cache=False).wait(poll=POLL)
    history = job.history()
    job_states = [s for _, b, s in history if b is None]
    assert job_states[0] == "submitting" and job_states[-1] == "completed"
    batch_states = [s for _, b, s in history if b is not None]
    assert batch_states[0] == "validating" and batch_states[-1] == "completed"
    assert [t for t, _, _ in history] == sorted(t for t, _, _ in history)


def test_outcomes_while_running_and_a_wait_timeout_say_what_to_do(llm):
    llm.configure(batch_step_s=0.25)
    job = batch.submit(["not yet"], cache=False)
    with pytest.raises(errors.LLMError, match="still validating.*job.wait"):
        job.outcomes()  # what is in now: never blocks
    with pytest.raises(errors.APITimeoutError, match="keeps running on the server"):
        job.wait(timeout=0.1, poll=POLL)
    with pytest.raises(errors.APITimeoutError, match="keeps running on the server"):
        job.results(timeout=0.1)  # results() waits for the end, as every handle's does
    assert job.wait(poll=POLL).status().state == "completed"


def test_jobs_lists_and_get_job_finds_earlier_jobs(llm):
    first = batch.submit(["listed a"], cache=False)
    second = batch.submit(["listed b"], cache=False)
    assert [s.id for s in batch.jobs()][:2] == [second.id, first.id]
    again = batch.get_job(first.id)
    assert again.id == first.id and repr(again).startswith(f"<BatchJob {first.id}")
    assert texts(again.wait(poll=POLL).results()) == [expected_answer(chat_body("listed a"))]
    with pytest.raises(errors.InvalidRequestError, match="No batch job 'job_nope'"):
        batch.get_job("job_nope")


def test_transient_server_errors_on_batch_calls_are_retried(llm):
    rules = {("POST", "/v1/files"): 1, ("POST", "/v1/batches"): 1,
             ("GET", "/v1/batches/"): 2, ("GET", "/v1/files/"): 1}
    with FlakyProxy(llm.url, rules) as proxy:
        job = batch.submit(["through a flaky proxy"], cache=False, base_url=proxy.base_url)
        [answer] = job.wait(poll=POLL).results()
    assert answer.text == expected_answer(chat_body("through a flaky proxy"))
    assert sum(proxy.failed.values()) == 5 and proxy.failed == rules


def test_a_batch_without_a_server_fails_before_starting_the_local_model():
    with pytest.raises(errors.ConfigurationError, match="Batch API needs"):
        batch.submit(["no server"])


def test_the_api_key_is_never_written_to_the_job_store(llm):
    batch.submit(["secret keeper"], cache=False).wait(poll=POLL).results()
    path = resolve().jobstore_path
    for file in path.parent.glob(path.name + "*"):  # the database, its WAL and shm files
        assert API_KEY.encode() not in file.read_bytes()


def test_a_part_that_cannot_be_created_is_an_error_value_and_retry_sends_it(llm):
    prompts = [f"part {i}" for i in range(5)]
    with FlakyProxy(llm.url, {("POST", "/v1/batches"): (1, 1000)}) as proxy:
        job = batch.submit(prompts, cache=False, base_url=proxy.base_url, max_retries=0,
                           limits=Limits(max_requests=2))
    assert job.summary().batches == 1  # parts 2 and 3 were refused; part 1 runs
    direct = batch.get_job(job.id, base_url=llm.base_url)
    direct.wait(poll=POLL)
    assert direct.status().state == "failed"
    results = direct.results()
    assert texts(results[:2]) == [expected_answer(chat_body(p)) for p in prompts[:2]]
    assert all("Not sent" in r.message for r in results[2:])
    direct.retry_failed().wait(poll=POLL)
    assert direct.status().state == "completed"
    assert texts(direct.results()) == [expected_answer(chat_body(p)) for p in prompts]


def test_a_submit_that_fails_before_any_batch_leaves_no_job(llm):
    with FlakyProxy(llm.url, {("POST", "/v1/files"): 1000}) as proxy:
        with pytest.raises(errors.ServerError, match="503"):
            batch.submit(["never sent"], cache=False, base_url=proxy.base_url, max_retries=1)
    assert batch.jobs() == []


def test_an_interrupted_submit_still_records_the_batch_it_created(llm):
    from llm_magics.core.batch import asubmit_prompts
    from llm_magics.core.loop_thread import submit as on_loop

    with FlakyProxy(llm.url, {}, delays={("POST", "/v1/batches"): 0.3}) as proxy:
        future = on_loop(asubmit_prompts(["interrupted"], cache=False,
                                         base_url=proxy.base_url))
        deadline = time.monotonic() + 5
        while proxy.forwarded < 1:  # the upload went through; create is being held
            assert time.monotonic() < deadline
            time.sleep(0.01)
        future.cancel()  # what Ctrl-C does to a waiting submit
        time.sleep(0.6)
    [summary] = batch.jobs()
    assert summary.batches == 1 and llm.stats["batches"]["created"] == 1
    job = batch.get_job(summary.id, base_url=llm.base_url)
    assert texts(job.wait(poll=POLL).results()) == [expected_answer(chat_body("interrupted"))]
