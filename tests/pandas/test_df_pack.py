"""df.llm.apply(pack=N): the same column as unpacked, fewer requests, errors in their rows."""

from __future__ import annotations

import pandas as pd
import pytest

from llm_magics import errors
from llm_magics.core.constants import PACK_ROW_OVERHEAD_TOKENS
from llm_magics.core.cost import cost_usd
from llm_magics.core.engine import get_engine
from llm_magics.core.packing import pack_rows
from llm_magics.core.settings import resolve
from llm_magics.core.tokens import estimate_prompt_tokens
from llm_magics.core.types import Request, Usage
from llm_magics.server.sim.answers import expected_answer
from tests.support.waiting import wait_until


def words(n: int) -> pd.DataFrame:
    return pd.DataFrame({"w": [f"word{i}" for i in range(n)]}, index=[f"r{i}" for i in range(n)])


def test_packed_apply_is_the_unpacked_column_in_a_tenth_of_the_requests(llm, body):
    df = words(30)
    packed = df.llm.apply("Define {w}", pack=10, cache=False, progress=False)
    assert llm.stats["chat_requests"] == 3
    unpacked = df.llm.apply("Define {w}", cache=False, progress=False)
    pd.testing.assert_series_equal(packed, unpacked)
    assert list(packed) == [expected_answer(body(f"Define {w}"), llm.config) for w in df.w]


def test_errors_coerce_leaves_na_in_the_failed_and_missing_rows_only(llm, body):
    df = pd.DataFrame({"w": ["cat", None, "STATUS:400 dog", "PACKED:bad eel", "fox"]})
    out = df.llm.apply("{w}", pack=10, cache=False, progress=False, max_retries=0)
    assert out.isna().tolist() == [False, True, True, False, False]
    assert out[3] == expected_answer(body("PACKED:bad eel"), llm.config)
    assert [e.label for e in out.attrs["llm_errors"]] == [2]
    assert isinstance(df.llm.last_errors[2], errors.InvalidRequestError)
    assert llm.stats["chat_requests"] == 3  # the pack, then the two rows it did not answer


def test_a_rerun_unpacked_sends_nothing_after_a_packed_run(llm):
    df = words(12)
    first = df.llm.apply("Define {w}", pack=5, progress=False)
    again = df.llm.apply("Define {w}", progress=False)
    assert llm.stats["chat_requests"] == 3
    pd.testing.assert_series_equal(first, again)


def test_pack_with_schema_is_refused_before_anything_is_sent(llm):
    with pytest.raises(errors.InvalidRequestError, match="schema="):
        words(3).llm.apply("Define {w}", pack=3, progress=False,
                           schema={"type": "object", "properties": {"a": {"type": "string"}}})
    assert llm.stats["chat_requests"] == 0


def test_estimate_prices_the_packed_requests(llm):
    df = words(25)
    est = df.llm.estimate("Define {w}", pack=10, model="gpt-4o-mini", completion_tokens=20)
    plain = df.llm.estimate("Define {w}", model="gpt-4o-mini", completion_tokens=20)
    assert (est.calls, est.pack, plain.calls) == (3, 10, 25)
    rows = [Request([{"role": "user", "content": f"Define {w}"}], "gpt-4o-mini", "u")
            for w in df.w]
    packs = [pack_rows(rows[i:i + 10]).request for i in range(0, 25, 10)]
    assert est.prompt_tokens == sum(estimate_prompt_tokens(p.messages) for p in packs)
    assert est.completion_tokens == plain.completion_tokens + 25 * PACK_ROW_OVERHEAD_TOKENS
    assert est.cost_usd == pytest.approx(cost_usd(
        "gpt-4o-mini", Usage(est.prompt_tokens, est.completion_tokens)))
    assert "packed 10 rows per request" in str(est)
    assert llm.stats["chat_requests"] == 0


def test_a_stopped_packed_apply_keeps_finished_packs_and_a_rerun_sends_only_the_rest(llm):
    llm.configure(latency_s=0.3)  # ten packs two at a time: 1.5 s, a wide window to stop in
    df = words(40)
    job = df.llm.apply("Define {w}", pack=4, concurrency=2, background=True, progress=False)
    wait_until(lambda: llm.stats["chat_requests"] >= 3 or job.done(),
               what=lambda: f"3 packs sent (sent {llm.stats['chat_requests']}; job "
                            f"{job.progress}; engine {get_engine().status()['endpoints']})")
    assert llm.stats["chat_requests"] >= 3, (job.progress, job.results())
    assert job.cancel() is True
    assert job.wait(timeout=10).done()
    first = llm.stats["chat_requests"]
    assert 3 <= first < 10
    assert len(get_engine().cache_for(resolve(), None)) == 4 * first  # every finished pack
    assert job.progress["state"] == "cancelled" and job.progress["done"] == 4 * first
    out = df.llm.apply("Define {w}", pack=4, concurrency=2, progress=False)
    assert llm.stats["chat_requests"] == 10  # the packs not sent before, and no others
    assert out.notna().all()
