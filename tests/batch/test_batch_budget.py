"""``max_cost_usd`` on the Batch API: a job that could cost more is never submitted."""

from __future__ import annotations

import json

import pytest
from batch_helpers import MODEL, POLL, batch_lines

import llm_magics
import llm_magics.batch as batch
from llm_magics import errors
from llm_magics.core.budget import worst_case_usd
from llm_magics.core.types import Request

MAX_TOKENS = 20


def batch_worst(prompts: list[str], base_url: str) -> float:
    """What the cap must cover: each line's worst case at batch price."""
    total = 0.0
    for prompt in prompts:
        request = Request([{"role": "user", "content": prompt}], MODEL, base_url,
                          {"max_tokens": MAX_TOKENS})
        total += worst_case_usd(request, batch=True) or 0.0
    return total


def test_a_batch_whose_worst_case_is_over_the_cap_is_not_submitted(llm):
    prompts = [f"over the cap {i}" for i in range(30)]
    worst = batch_worst(prompts, llm.base_url)
    with pytest.raises(errors.BudgetExceededError, match="Not submitted"):
        batch.submit(prompts, max_tokens=MAX_TOKENS, max_cost_usd=worst * 0.9)
    assert llm.stats["batches"].get("created", 0) == 0 and llm.stats["files_uploaded"] == 0
    assert list(batch.jobs()) == []  # nothing recorded either

    job = batch.submit(prompts, max_tokens=MAX_TOKENS, max_cost_usd=worst).wait(poll=POLL)
    results = job.results()
    assert all(isinstance(r, llm_magics.Response) for r in results)
    assert sum(r.cost_usd for r in results) <= worst


def test_cached_rows_cost_nothing_against_the_cap(llm):
    prompts = [f"half cached {i}" for i in range(10)]
    llm_magics.map(prompts[:5], max_tokens=MAX_TOKENS)  # these five are answered already
    fresh_worst = batch_worst(prompts[5:], llm.base_url)
    assert fresh_worst < batch_worst(prompts, llm.base_url)
    job = batch.submit(prompts, max_tokens=MAX_TOKENS, max_cost_usd=fresh_worst).wait(poll=POLL)
    assert batch_lines(llm) == 5
    assert all(isinstance(r, llm_magics.Response) for r in job.results())


def test_the_accessor_batch_mode_honours_the_cap(llm):
    pd = pytest.importorskip("pandas")
    from llm_magics.pandas import register

    register()
    df = pd.DataFrame({"w": [f"accessor word {i}" for i in range(8)]})
    with pytest.raises(errors.BudgetExceededError):
        df.llm.apply("{w}", mode="batch", max_tokens=MAX_TOKENS, max_cost_usd=1e-9)
    assert llm.stats["batches"].get("created", 0) == 0


def test_a_batch_on_a_privately_priced_model_is_priced_at_half_the_users_price(llm):
    mine = {"sim-small": (1000.0, 2000.0)}
    job = batch.submit(["private price one", "private price two"], model="sim-small",
                       prices=mine, max_tokens=MAX_TOKENS, max_cost_usd=10.0).wait(poll=POLL)
    for answer in job.results():
        usage = answer.usage
        full = (usage.prompt_tokens * 1000.0 + usage.completion_tokens * 2000.0) / 1e6
        assert answer.cost_usd == pytest.approx(full / 2)
    assert job.summary().cost_usd == pytest.approx(
        sum(a.cost_usd for a in job.results()))


def test_a_batch_file_over_the_cap_is_not_submitted(llm, tmp_path):
    lines = [{"custom_id": f"line-{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": MODEL, "max_tokens": MAX_TOKENS,
                       "messages": [{"role": "user", "content": f"file line {i}"}]}}
             for i in range(6)]
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    worst = batch_worst([f"file line {i}" for i in range(6)], llm.base_url)
    with pytest.raises(errors.BudgetExceededError, match="Not submitted"):
        batch.submit_jsonl(path, max_cost_usd=worst * 0.9)
    assert llm.stats["files_uploaded"] == 0
    job = batch.submit_jsonl(path, max_cost_usd=worst).wait(poll=POLL)
    assert all(isinstance(r, llm_magics.Response) for r in job.results())
