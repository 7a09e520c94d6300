"""The call log: one row per call from every face, equal to what the caller got back.

Every call goes to the real simulator over HTTP; the log is the real SQLite
file, read back through ``llm_magics.history()`` and the ``llm-magics
history`` command. Batch and queue rows are pinned in ``tests/batch`` and
``tests/queue`` next to their own servers.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import llm_magics
from llm_magics import errors
from llm_magics.cli import main as cli
from llm_magics.core.history.log import get_call_log
from llm_magics.core.types import Response
from llm_magics.pandas import register
from tests.core.test_cache_faults import locked_by_another_process
from tests.support.env import on_repo_path, without_settings
from tests.support.waiting import wait_until

KEY = "sk-history-do-not-log-0123456789abcdef"
MODEL = "gpt-4o-mini"  # priced: every answer has a cost to compare


@pytest.fixture
def log_path(sim, tmp_path) -> Path:
    sim.configure(latency_s=0, error_rate=0, rpm=None, answer_tokens=6)
    path = tmp_path / "state" / "history.sqlite"
    llm_magics.configure(base_url=sim.base_url, api_key=KEY, model=MODEL,
                         history_path=str(path), max_retries=2, backoff_initial_s=0.01,
                         backoff_max_s=0.02)
    register()
    return path


def fingerprint(r: Response) -> tuple:
    return (r.text, r.usage.prompt_tokens, r.usage.completion_tokens, r.cost_usd, r.cached)


def row_fingerprints(frame: pd.DataFrame) -> Counter:
    ok = frame[frame.status == "ok"]
    return Counter(zip(ok.answer, ok.prompt_tokens, ok.completion_tokens, ok.cost_usd,
                       ok.cached, strict=True))


def test_every_face_leaves_one_row_per_call_equal_to_its_response(log_path, sim):
    got: list[Response] = [llm_magics.complete("first"), llm_magics.complete("first")]
    stream = llm_magics.stream("a stream")
    assert "".join(stream)
    got.append(stream.response)
    mapped = llm_magics.map(["m1", "m2", "m1", "STATUS:400 bad row"])
    got += [r for r in mapped[:2]]
    assert isinstance(mapped[3], errors.LLMError)
    df = pd.DataFrame({"text": ["d1", "d2", "m2", "STATUS:400 no"]})
    applied = df.llm.apply("{text}", progress=False)
    assert applied.isna().tolist() == [False, False, False, True]
    again = df.llm.apply("{text}", progress=False)  # every answered row is a cache hit now
    pd.testing.assert_series_equal(applied, again)

    frame = llm_magics.history()
    # complete x2 (one hit), stream, map: 2 sent + 1 error, apply: d1, d2 sent, m2 a hit,
    # one error; the re-run: 3 hits + the error row sent again.
    assert len(frame) == 2 + 1 + 3 + 4 + 4
    assert frame.status.value_counts().to_dict() == {"ok": 11, "error": 3}
    assert (frame.face.value_counts().to_dict()
            == {"complete": 2, "stream": 1, "map": 3, "apply": 8})
    assert frame["mode"].value_counts().to_dict() == {"sync": 2, "stream": 1, "async": 11}
    expected = Counter(fingerprint(r) for r in got)
    assert row_fingerprints(frame[frame.face != "apply"]) == expected
    assert frame.cached.sum() == 1 + 1 + 3
    assert (frame.error_kind[frame.status == "error"] == "InvalidRequestError").all()
    assert frame.ts.is_monotonic_increasing
    assert frame.host.eq(sim.base_url.split("//")[1].split("/")[0]).all()
    assert frame.job_id[frame.face == "map"].nunique() == 1
    assert frame.job_id[frame.face == "complete"].isna().all()


def test_apply_rows_match_the_answers_in_the_column(log_path):
    df = pd.DataFrame({"text": ["x1", "x2", "x1"]})
    applied = df.llm.apply("{text}", progress=False)
    frame = llm_magics.history()
    assert len(frame) == 2  # "x1" twice is one call
    assert sorted(frame.answer) == sorted(set(applied))
    assert frame.prompt_tokens.notna().all() and frame.cost_usd.gt(0).all()


def test_retries_latency_and_stream_ttft_are_recorded(log_path):
    with pytest.raises(errors.ServerError):
        llm_magics.complete("STATUS:503 always down")
    list(llm_magics.stream("timed"))
    failed, streamed = llm_magics.history().itertuples()
    assert (failed.status, failed.error_kind, failed.retries) == ("error", "ServerError", 2)
    assert failed.latency_s > 0 and pd.isna(failed.prompt_tokens)
    assert streamed.ttft_s > 0 and streamed.latency_s >= streamed.ttft_s


def test_the_key_never_reaches_the_log_file(log_path):
    llm_magics.complete(f"say the key {KEY[:6]} is not here")
    llm_magics.map(["k1", "k2"])
    list(llm_magics.stream("k3"))
    get_call_log(log_path).store.flush(wait=True)
    files = [p for p in log_path.parent.iterdir() if p.name.startswith("history.sqlite")]
    assert files
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
        assert oct(path.stat().st_mode & 0o777) == oct(0o600), path


def test_text_is_kept_unless_turned_off(log_path):
    llm_magics.complete("keep me")
    llm_magics.complete("forget me", history_text=False)
    kept, dropped = llm_magics.history().itertuples()
    assert json.loads(kept.messages) == [{"role": "user", "content": "keep me"}]
    assert kept.answer
    assert pd.isna(dropped.messages) and pd.isna(dropped.answer)
    assert dropped.prompt_tokens > 0  # the numbers are still there


def test_history_off_records_nothing(log_path):
    llm_magics.complete("unrecorded", history=False)
    llm_magics.map(["unrecorded too"], history=False)
    assert llm_magics.history().empty


def test_a_locked_log_file_loses_no_answer_and_no_row(log_path, sim, caplog):
    llm_magics.complete("warm up")  # the file exists, in WAL mode
    prompts = [f"locked log {i}" for i in range(20)]
    with locked_by_another_process(log_path):
        results = llm_magics.map(prompts)
        get_call_log(log_path).store.flush(wait=True)  # gives up after the busy timeout
    assert all(isinstance(r, Response) for r in results)
    assert any("call log" in r.getMessage() and "cannot be used" in r.getMessage()
               for r in caplog.records)
    frame = llm_magics.history()  # the lock is gone: the held rows are written now
    assert len(frame) == 21
    assert sorted(frame.answer[1:]) == sorted(r.text for r in results)


def test_filters_since_until_model_and_limit(log_path):
    for i in range(5):
        llm_magics.complete(f"filter {i}")
    llm_magics.complete("other model", model="gpt-4o")
    frame = llm_magics.history()
    assert llm_magics.history(model="gpt-4o").answer.tolist() == frame.answer[5:].tolist()
    assert llm_magics.history(limit=2).id.tolist() == frame.id[-2:].tolist()
    middle = (frame.ts[1].timestamp() + frame.ts[2].timestamp()) / 2
    assert len(llm_magics.history(since=middle)) == 4
    assert len(llm_magics.history(until=middle)) == 2
    assert len(llm_magics.history(since="1h")) == 6
    assert llm_magics.history(since="2999-01-01").empty
    with pytest.raises(errors.InvalidRequestError, match="'30m', '1h'"):
        llm_magics.history(since="yesterday-ish")
    with pytest.raises(errors.InvalidRequestError, match="limit"):
        llm_magics.history(limit=0)


def test_retention_drops_old_rows_and_keeps_the_newest(tmp_path):
    call_log = get_call_log(tmp_path / "retention.sqlite")
    call_log.retain(max_age_days=1, max_rows=3)
    now = time.time()
    for ts in (now - 3 * 86400, now - 2 * 86400, now - 5, now - 4, now - 3, now - 2):
        call_log.add((ts, None, None, None, None, "ok", *(None,) * 14))
    call_log.store.flush(wait=True)
    kept = [row[1] for row in call_log.rows()]
    assert kept == [now - 4, now - 3, now - 2]


def test_the_command_prints_a_summary_and_json(log_path, capsys):
    llm_magics.complete("cli one")
    llm_magics.complete("cli one")
    with pytest.raises(errors.ServerError):
        llm_magics.complete("STATUS:503 cli down", max_retries=0)
    assert cli(["history", "--by", "face"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["face", "calls", "errors", "cache", "hits", "prompt", "tok",
                                "completion", "tok", "spend"]
    assert table[1].split()[:4] == ["complete", "3", "1", "33%"]
    assert cli(["history", "--json", "--limit", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in rows] == ["ok", "error"] and rows[0]["cached"] == 1
    assert cli(["history", "--since", "soon"]) == 2
    assert "'30m'" in capsys.readouterr().err


def test_a_log_that_is_not_a_database_is_moved_aside(log_path):
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(b"not sqlite\n" * 100)
    assert llm_magics.complete("after corruption").text
    assert len(llm_magics.history()) == 1
    assert [p for p in log_path.parent.iterdir() if ".corrupt-" in p.name]
    with sqlite3.connect(log_path) as db:
        assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 1


def test_a_stream_stopped_midway_is_a_cancelled_row(log_path, sim):
    sim.configure(token_latency_s=0.05, answer_tokens=200)
    stream = llm_magics.stream("stop me early")
    assert next(stream)
    assert stream.cancel()
    wait_until(lambda: len(llm_magics.history()) == 1, what="the stopped call's row")
    [row] = llm_magics.history().itertuples()
    assert (row.status, row.error_kind, row.mode) == ("cancelled", "CancelledError", "stream")
    assert pd.isna(row.answer) and row.latency_s > 0


def test_auto_mode_rows_say_the_mode_that_ran_and_a_plan_adds_none(log_path):
    chosen = llm_magics.plan(["auto a", "auto b"], mode="auto").choice
    assert llm_magics.history().empty  # planning sends nothing
    llm_magics.map(["auto a", "auto b"], mode="auto")
    frame = llm_magics.history()
    assert frame["mode"].tolist() == [chosen, chosen]
    assert frame.face.tolist() == ["map", "map"]


def test_without_pandas_history_says_what_to_install():
    code = ("import sys; sys.modules['pandas'] = None\n"
            "import llm_magics\n"
            "try:\n    llm_magics.history()\nexcept ImportError as err:\n    print(err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=on_repo_path(without_settings()))
    assert 'pip install "llm-exec-magics[pandas]"' in out.stdout, out.stderr


def test_rows_refused_by_the_budget_were_never_sent_and_have_no_row(log_path):
    first = llm_magics.complete("within budget")
    capped = llm_magics.map(["over budget 1", "over budget 2"], max_cost_usd=1e-9)
    assert all(isinstance(r, errors.BudgetExceededError) for r in capped)
    frame = llm_magics.history()
    assert frame.answer.tolist() == [first.text]
