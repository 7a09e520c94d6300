"""core.packing without a server: which answers of a packed reply are their row's own."""

from __future__ import annotations

import json

import pytest

from llm_magics.core.packing import pack_rows, pack_size, row_answers, split_reply
from llm_magics.core.types import Request, Response, Usage

IDS = ["1", "2", "3"]


def reply(*entries: dict) -> str:
    return json.dumps({"answers": list(entries)})


def test_only_ids_of_the_pack_answered_once_with_text_count():
    text = reply({"id": "1", "answer": "a"}, {"id": "2", "answer": "b"},
                 {"id": "2", "answer": "b"}, {"id": "3", "answer": 7},
                 {"id": "9", "answer": "stray"})
    assert split_reply(text, "stop", IDS) == {"1": "a"}


@pytest.mark.parametrize("text,finish", [
    (reply({"id": "1", "answer": "a"}), "length"),
    ('{"answers": [{"id": "1", "answer": "a"}', "stop"),
    (json.dumps({"answers": {"1": "a"}}), "stop"),
    (json.dumps([{"id": "1", "answer": "a"}]), "stop"),
    (reply({"id": "1", "answer": "   "}), "stop"),
])
def test_a_reply_cut_short_malformed_or_blank_answers_nothing(text, finish):
    assert split_reply(text, finish, IDS) == {}


def test_rows_share_the_whole_usage_and_cost_of_their_pack():
    rows = [Request([{"role": "user", "content": w}], "m", "u") for w in ("x", "y", "z")]
    packed = pack_rows(rows)
    text = reply({"id": "1", "answer": "short"}, {"id": "3", "answer": "a longer answer"})
    out = row_answers(packed, Response(text, "m", Usage(101, 37), cost_usd=0.01,
                                       finish_reason="stop"))
    assert set(out) == {rows[0].cache_key(), rows[2].cache_key()}
    assert sum(r.usage.prompt_tokens for r in out.values()) == 101
    assert sum(r.usage.completion_tokens for r in out.values()) == 37
    assert sum(r.cost_usd for r in out.values()) == pytest.approx(0.01)
    assert out[rows[2].cache_key()].text == "a longer answer"


def test_pack_auto_fits_the_expected_answers_and_stays_bounded():
    def rows(max_tokens):
        return [Request([{"role": "user", "content": "q"}], "m", "u",
                        {"max_tokens": max_tokens})]

    assert pack_size("auto", rows(2_000)) == 2
    assert pack_size("auto", rows(5_000)) == 1
    assert pack_size("auto", rows(10)) == 20
    assert pack_size(None) == 1 and pack_size(7) == 7
