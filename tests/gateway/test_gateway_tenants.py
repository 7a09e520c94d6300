"""Tenants of one gateway: own files, batches and cache, own rate share, private state.

Tenant A and tenant B each hold a client key; B tries every way to see or
touch what A did, and A floods while B must still be served. Also the
simulator's side of secrets: its control routes and its key on a command line.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from hostile import KEY_A, KEY_B
from openai import AsyncOpenAI, OpenAI

from llm_magics.errors import ConfigurationError
from llm_magics.server.gateway.store import GatewayStore
from llm_magics.server.gateway.tenants import key_hash
from tests.support.batch_api import jsonl, line, start_batch, upload, wait
from tests.support.gateway import Gateway
from tests.support.sim import Simulator, SimulatorProcess
from tests.support.sim import chat_body as user


def tenant(gateway: Gateway, key: str) -> OpenAI:
    return OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=30)


@pytest.fixture
def two(make_gateway: Callable[..., Gateway]) -> tuple[Gateway, OpenAI, OpenAI]:
    gateway = make_gateway(client_keys=(KEY_A, KEY_B))
    return gateway, tenant(gateway, KEY_A), tenant(gateway, KEY_B)


# ------------------------------------------------------------------ 3. files and batches

def test_b_cannot_see_or_touch_as_files_and_batches(two: tuple[Gateway, OpenAI, OpenAI],
                                                    sim: Simulator) -> None:
    _, a, b = two
    batch_id = start_batch(a, [line("one", user("for A only"))])
    batch, _ = wait(a, batch_id)
    assert batch.status == "completed"
    a_files = {f.id for f in a.files.list()}
    assert batch.input_file_id in a_files and batch.output_file_id in a_files
    assert list(b.files.list()) == [] and list(b.batches.list()) == []
    for attempt in (lambda: b.files.retrieve(batch.input_file_id),
                    lambda: b.files.content(batch.output_file_id),
                    lambda: b.files.delete(batch.input_file_id),
                    lambda: b.batches.retrieve(batch_id),
                    lambda: b.batches.cancel(batch_id)):
        with pytest.raises(openai.NotFoundError):
            attempt()
    with pytest.raises(openai.BadRequestError) as info:  # B cannot run a batch over A's file
        b.batches.create(input_file_id=batch.input_file_id, endpoint="/v1/chat/completions",
                         completion_window="24h")
    assert info.value.param == "input_file_id"
    assert a.files.retrieve(batch.input_file_id).id == batch.input_file_id  # A's file survived
    assert jsonl(a, batch.output_file_id)[0]["custom_id"] == "one"


def test_a_live_batch_is_invisible_to_b(two: tuple[Gateway, OpenAI, OpenAI],
                                        sim: Simulator) -> None:
    _, a, b = two
    sim.configure(latency_s=0.5)
    batch_id = start_batch(a, [line(str(i), user(f"slow {i}")) for i in range(4)])
    with pytest.raises(openai.NotFoundError):
        b.batches.cancel(batch_id)
    assert a.batches.retrieve(batch_id).status != "cancelling"
    assert a.batches.cancel(batch_id).status == "cancelling"


def test_the_store_keeps_hashes_never_keys(two: tuple[Gateway, OpenAI, OpenAI],
                                           sim: Simulator) -> None:
    gateway, a, b = two
    upload(a, [line("x", user("x"))])
    a.chat.completions.create(**user("cached for A"))
    b.chat.completions.create(**user("cached for B"))
    state = Path(gateway.config.state_dir)
    everything = b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file())
    assert KEY_A.encode() not in everything and KEY_B.encode() not in everything


def test_state_from_before_tenants_belongs_to_the_keyless_tenant(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "gateway.sqlite")
    old.executescript(
        "CREATE TABLE files (id TEXT PRIMARY KEY, filename TEXT NOT NULL, purpose TEXT NOT NULL,"
        " bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, owner TEXT);"
        "CREATE TABLE batches (id TEXT PRIMARY KEY, data TEXT NOT NULL);"
        "INSERT INTO files VALUES ('file-old', 'in.jsonl', 'batch', 3, 0, NULL);")
    old.commit()
    old.close()
    store = GatewayStore(tmp_path)
    try:
        assert [f.id for f in store.files("")] == ["file-old"]
        assert store.files(key_hash(KEY_A)) == []
    finally:
        store.close()


# ------------------------------------------------------------------ 3. the response cache

def test_the_cache_is_per_key_and_silent(two: tuple[Gateway, OpenAI, OpenAI],
                                         sim: Simulator) -> None:
    _, a, b = two
    body = user("what did A ask?")
    first = a.chat.completions.with_raw_response.create(**body)
    again = a.chat.completions.with_raw_response.create(**body)
    assert sim.stats["chat_requests"] == 1  # A's own repeat is free
    probe = b.chat.completions.with_raw_response.create(**body)
    assert sim.stats["chat_requests"] == 2  # B's identical prompt went upstream: no hint of A
    for response in (first, again, probe):
        assert "x-llm-cache" not in response.headers


def test_a_shared_cache_is_the_operators_choice(make_gateway: Callable[..., Gateway],
                                                sim: Simulator) -> None:
    gateway = make_gateway(client_keys=(KEY_A, KEY_B), share_cache=True)
    body = user("shared prompt")
    assert tenant(gateway, KEY_A).chat.completions.with_raw_response.create(
        **body).headers["x-llm-cache"] == "miss"
    assert tenant(gateway, KEY_B).chat.completions.with_raw_response.create(
        **body).headers["x-llm-cache"] == "hit"
    assert sim.stats["chat_requests"] == 1


# ------------------------------------------------------------------ 2. per-key limits

def test_a_flooding_tenant_gets_its_own_429s(make_gateway: Callable[..., Gateway],
                                             sim: Simulator) -> None:
    gateway = make_gateway(client_keys=(KEY_A, KEY_B), key_rpm=5, concurrency=2, cache=False,
                           key_concurrency=30)  # the flood meets the RPM window, not its share
    sim.configure(latency_s=0.05)

    async def flood() -> list[int]:
        async with AsyncOpenAI(base_url=gateway.base_url, api_key=KEY_A, max_retries=0) as a:
            async def one(i: int) -> int:
                try:
                    await a.chat.completions.create(**user(f"flood {i}"))
                    return 200
                except openai.RateLimitError as err:
                    assert int(err.response.headers["retry-after"]) >= 1
                    return 429
            return list(await asyncio.gather(*(one(i) for i in range(30))))

    statuses = asyncio.run(flood())
    assert statuses.count(200) == 5 and statuses.count(429) == 25
    with tenant(gateway, KEY_B) as b:  # B's share is untouched by A's flood
        for i in range(5):
            assert b.chat.completions.create(**user(f"B {i}")).choices
        with pytest.raises(openai.RateLimitError) as info:
            b.chat.completions.create(**user("B over"))
        assert "this gateway key" in info.value.message
    assert sim.stats["chat_requests"] == 10


def test_keys_file_gives_each_key_its_limits(make_gateway: Callable[..., Gateway],
                                             sim: Simulator, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"key": KEY_A, "rpm": 2, "tpm": 5000}, {"key": KEY_B}]))
    keys.chmod(0o600)
    gateway = make_gateway(keys_file=keys, cache=False)
    with tenant(gateway, KEY_A) as a, tenant(gateway, KEY_B) as b:
        with pytest.raises(openai.BadRequestError) as big:
            a.chat.completions.create(**user("x"), max_tokens=6000)
        assert big.value.code == "tokens_exceed_key_limit"
        for i in range(2):
            a.chat.completions.create(**user(f"a {i}"), max_tokens=10)
        with pytest.raises(openai.RateLimitError):
            a.chat.completions.create(**user("a over"), max_tokens=10)
        for i in range(4):
            assert b.chat.completions.create(**user(f"b {i}")).choices
    with pytest.raises(openai.AuthenticationError):
        tenant(gateway, "sk-not-in-the-file").models.list()



def test_a_key_capped_at_bulk_cannot_jump_the_queue(make_gateway: Callable[..., Gateway],
                                                    sim: Simulator, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"key": KEY_A, "max_priority": "bulk"}, {"key": KEY_B}]))
    keys.chmod(0o600)
    gateway = make_gateway(keys_file=keys, rpm=240, cache=False)  # a slot per 0.25 s, burst 4
    finished: list[str] = []

    async def run() -> None:
        async with AsyncOpenAI(base_url=gateway.base_url, api_key=KEY_A, max_retries=0) as a, \
                AsyncOpenAI(base_url=gateway.base_url, api_key=KEY_B, max_retries=0) as b:
            async def call(client: AsyncOpenAI, name: str, priority: str) -> None:
                await client.chat.completions.create(
                    **user(name), extra_headers={"X-LLM-Priority": priority})
                finished.append(name)

            bulk = [asyncio.ensure_future(call(b, f"bulk-{i}", "bulk")) for i in range(8)]
            while not any(limiter.queued >= 4 for limiter in
                          list(gateway.state.engine.limiters.values())):
                await asyncio.sleep(0.01)  # until the burst is spent and four bulk calls wait
            await asyncio.gather(call(a, "capped", "interactive"),
                                 call(b, "urgent", "interactive"), *bulk)

    asyncio.run(run())
    assert len(finished) == 10
    assert finished.index("urgent") <= 4, finished  # ahead of the queued bulk calls
    assert finished[-1] == "capped", finished  # served as bulk: behind the bulk queued before it


def test_keys_file_refuses_an_unknown_priority(make_gateway: Callable[..., Gateway],
                                               tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"key": KEY_A, "max_priority": "urgent"}]))
    keys.chmod(0o600)
    with pytest.raises(ConfigurationError, match="max_priority' must be interactive, high or bulk"):
        make_gateway(keys_file=keys)

# ------------------------------------------------------------------ 6. private state

def test_state_is_private_to_the_user(two: tuple[Gateway, OpenAI, OpenAI],
                                      sim: Simulator) -> None:
    gateway, a, b = two
    batch_id = start_batch(a, [line("p", user("private"))])
    assert wait(a, batch_id)[0].status == "completed"
    b.chat.completions.create(**user("B's cache"))
    state = Path(gateway.config.state_dir)
    paths = [state, *state.rglob("*")]
    assert any(p.name.startswith("cache-") for p in paths)  # the per-key cache files too
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path.name, oct(mode))


# ------------------------------------------------------------------ 6. the simulator's key

def test_sim_control_routes_need_its_key() -> None:
    with Simulator(api_key="sk-sim-secret") as sim:
        right = {"authorization": "Bearer sk-sim-secret"}
        assert httpx.get(sim.url + "/_sim/health").status_code == 200
        for method, path in (("GET", "/_sim/config"), ("GET", "/_sim/stats"),
                             ("POST", "/_sim/reset")):
            assert httpx.request(method, sim.url + path).status_code == 401
        switched = httpx.post(sim.url + "/_sim/config", json={"api_key": None})
        assert switched.status_code == 401 and sim.config.api_key == "sk-sim-secret"
        assert httpx.get(sim.url + "/_sim/config", headers=right).status_code == 200


def test_simulator_process_keeps_its_key_off_the_command_line() -> None:
    with SimulatorProcess(api_key="sk-sim-process-secret") as sim:
        assert sim.proc is not None
        cmdline = Path(f"/proc/{sim.proc.pid}/cmdline").read_bytes()
        assert b"sk-sim-process-secret" not in cmdline
        assert sim.configure(answer_tokens=3)["answer_tokens"] == 3  # control calls send it
        client = OpenAI(base_url=sim.base_url, api_key="sk-sim-process-secret", max_retries=0)
        assert client.chat.completions.create(**user("hi")).choices


def test_clis_warn_about_keys_on_the_command_line(sim: Simulator, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from llm_magics.server.gateway import main as serve
    from llm_magics.server.sim import main as simulate

    taken = sim.port  # a port in use makes both exit right after the warning
    assert serve(["--upstream", sim.base_url, "--client-keys", "sk-cli-visible-1",
                  "--port", str(taken), "--state-dir", str(tmp_path)]) == 1
    assert simulate(["--api-key", "sk-cli-visible-2", "--port", str(taken)]) == 1
    err = capsys.readouterr().err
    assert "--client-keys puts keys on the command line" in err
    assert "--api-key puts the key on the command line" in err
    assert "sk-cli-visible" not in err
