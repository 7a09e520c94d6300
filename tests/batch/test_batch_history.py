"""Batch calls in the call log: one row per line, at the batch price, once, with the job id."""

from __future__ import annotations

from batch_helpers import POLL

import llm_magics
from llm_magics import errors
from llm_magics.core.batch import submit_prompts


def test_a_batch_leaves_one_row_per_line_at_the_batch_price(llm):
    job = submit_prompts(["b1", "b2", "b1", "STATUS:400 refused", None], cache=False)
    results = job.wait(poll=POLL).results()
    job.results()  # read again: the log must not grow
    answers = results[:2]
    assert isinstance(results[3], errors.LLMError)

    frame = llm_magics.history()
    assert len(frame) == 3  # "b1" twice is one line, None sends nothing
    assert set(frame["mode"]) == {"batch"} and set(frame.face) == {"batch"}
    assert set(frame.job_id) == {job.id}
    ok = frame[frame.status == "ok"].sort_values("answer")
    by_text = sorted(answers, key=lambda r: r.text)
    assert ok.answer.tolist() == [r.text for r in by_text]
    assert ok.cost_usd.tolist() == [r.cost_usd for r in by_text]
    assert ok.prompt_tokens.tolist() == [r.usage.prompt_tokens for r in by_text]
    summary = job.summary()
    assert ok.cost_usd.sum() == summary.cost_usd < summary.sync_cost_usd
    [failed] = frame[frame.status == "error"].itertuples()
    assert failed.error_kind == type(results[3]).__name__


def test_answers_the_cache_already_holds_are_cached_rows(llm):
    first = llm_magics.complete("in the cache already")
    job = submit_prompts(["in the cache already", "new line"])
    results = job.wait(poll=POLL).results()
    frame = llm_magics.history()
    assert frame.face.tolist()[0] == "complete"
    rest = frame.iloc[1:]
    assert set(rest.face) == {"batch"} and set(rest["mode"]) == {"batch"}
    assert sorted(zip(rest.answer, rest.cached, strict=True)) == sorted(
        [(first.text, True), (results[1].text, False)])
