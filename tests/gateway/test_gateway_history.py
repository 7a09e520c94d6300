"""The gateway's call log: every call on record per client key id, never the key; each key
reads its own rows at ``GET /v1/history`` and nobody else's."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from hostile import KEY_A, KEY_B
from openai import OpenAI

from llm_magics.core.history.log import get_call_log
from llm_magics.core.history.query import NAMES
from llm_magics.server.gateway.cli import main as serve
from llm_magics.server.gateway.config import CLIENT_KEYS_ENV
from llm_magics.server.gateway.tenants import key_hash, key_id
from tests.support.batch_api import line, start_batch, wait
from tests.support.gateway import Gateway
from tests.support.sim import chat_body as user


def history(gateway: Gateway, key: str | None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{gateway.base_url}/history", headers=headers, params=params, timeout=30)


@pytest.fixture
def calls(make_gateway: Callable[..., Gateway]):
    gateway = make_gateway(client_keys=(KEY_A, KEY_B))
    a = OpenAI(base_url=gateway.base_url, api_key=KEY_A, max_retries=0, timeout=30)
    b = OpenAI(base_url=gateway.base_url, api_key=KEY_B, max_retries=0, timeout=30)
    answers = {
        KEY_A: [a.chat.completions.create(**user("a one")),
                a.chat.completions.create(**user("a two"))],
        KEY_B: [b.chat.completions.create(**user("b one"))],
    }
    streamed = b.chat.completions.create(**user("b streams"), stream=True,
                                         stream_options={"include_usage": True})
    chunks = list(streamed)
    answers[KEY_B].append("".join(c.choices[0].delta.content or "" for c in chunks
                                  if c.choices))
    return gateway, answers


def test_each_key_reads_its_own_calls_and_no_one_elses(calls):
    gateway, answers = calls
    for key, mine in answers.items():
        reply = history(gateway, key)
        assert reply.status_code == 200
        rows = reply.json()["data"]
        texts = [m if isinstance(m, str) else m.choices[0].message.content for m in mine]
        assert [r["answer"] for r in rows] == texts
        assert {r["face"] for r in rows} == {"gateway"}
        assert all("client" not in r for r in rows)
    a_rows = history(gateway, KEY_A).json()["data"]
    first = answers[KEY_A][0]
    assert (a_rows[0]["prompt_tokens"], a_rows[0]["completion_tokens"]) == (
        first.usage.prompt_tokens, first.usage.completion_tokens)
    assert [r["mode"] for r in history(gateway, KEY_B).json()["data"]] == ["sync", "stream"]


def test_the_operator_sees_spend_per_key_id_and_the_keys_are_nowhere(calls):
    gateway, _ = calls
    path = gateway.state.settings.history_path
    rows = get_call_log(path).rows()
    ids = [row[NAMES.index("client")] for row in rows]
    assert ids.count(key_id(key_hash(KEY_A))) == 2 and ids.count(key_id(key_hash(KEY_B))) == 2
    for file in path.parent.iterdir():
        if file.name.startswith(path.name):
            data = file.read_bytes()
            assert KEY_A.encode() not in data and KEY_B.encode() not in data
            assert key_hash(KEY_A).encode() not in data  # only a prefix of the hash


def test_history_needs_a_key_and_checks_its_query(calls):
    gateway, _ = calls
    assert history(gateway, None).status_code == 401
    assert history(gateway, "sk-not-a-client-key").status_code == 401
    bad = history(gateway, KEY_A, since="last tuesday")
    assert bad.status_code == 400 and "'1h'" in bad.json()["error"]["message"]
    assert history(gateway, KEY_A, limit="0").status_code == 400
    assert len(history(gateway, KEY_A, limit="1").json()["data"]) == 1
    assert history(gateway, KEY_A, since="2999-01-01").json()["data"] == []


def test_key_ids_maps_each_configured_key_to_its_id(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv(CLIENT_KEYS_ENV, f"{KEY_A},{KEY_B}")
    assert serve(["--key-ids", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert KEY_A not in out and KEY_B not in out
    assert [line.split()[-1] for line in out.splitlines()] == [
        key_id(key_hash(KEY_A)), key_id(key_hash(KEY_B))]


def test_a_clients_batch_lines_are_its_own_rows(make_gateway: Callable[..., Gateway]):
    gateway = make_gateway(client_keys=(KEY_A, KEY_B))
    a = OpenAI(base_url=gateway.base_url, api_key=KEY_A, max_retries=0, timeout=30)
    batch_id = start_batch(a, [line("l1", user("batch one")), line("l2", user("batch two"))])
    batch, _ = wait(a, batch_id)
    assert batch.status == "completed"
    rows = history(gateway, KEY_A).json()["data"]
    assert [(r["mode"], r["job_id"]) for r in rows] == [("batch", batch_id)] * 2
    assert history(gateway, KEY_B).json()["data"] == []
