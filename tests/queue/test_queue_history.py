"""Queue calls in the call log: recorded once, by the process that queued them, not by workers."""

from __future__ import annotations

from queue_helpers import MODEL, tag

import llm_magics
from llm_magics import errors


def test_queued_calls_are_one_row_each_in_the_submitters_log(sim, redis_url, start_worker,
                                                             tmp_path):
    worker_log = tmp_path / "worker-history.sqlite"
    start_worker(sim.base_url, env={"LLM_MAGICS_HISTORY_PATH": str(worker_log)})
    llm_magics.configure(redis_url=redis_url, base_url=sim.base_url, model=MODEL)
    label = tag()
    prompts = [f"{label} q{i}" for i in range(4)] + [f"{label} q0", f"STATUS:400 {label}"]
    out = llm_magics.map(prompts, mode="queue")
    again = llm_magics.map(prompts[:2], mode="queue")  # answered by this process's cache

    frame = llm_magics.history()
    assert len(frame) == 5 + 2
    assert set(frame["mode"]) == {"queue"} and set(frame.face) == {"map"}
    first, second = frame.iloc[:5], frame.iloc[5:]
    assert first.job_id.nunique() == 1 and second.job_id.nunique() == 1
    assert first.job_id.iloc[0] != second.job_id.iloc[0]
    ok = first[first.status == "ok"]
    assert sorted(zip(ok.answer, ok.prompt_tokens, ok.completion_tokens, strict=True)) == sorted(
        (r.text, r.usage.prompt_tokens, r.usage.completion_tokens) for r in out[:4])
    assert not ok.cached.any() and second.cached.all()
    assert isinstance(out[5], errors.LLMError)
    assert first[first.status == "error"].error_kind.tolist() == [type(out[5]).__name__]
    assert [r.text for r in again] == [r.text for r in out[:2]]
    assert not worker_log.exists()  # the worker records nothing of its own
