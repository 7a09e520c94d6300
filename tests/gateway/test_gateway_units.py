"""The gateway's parts on their own: slots, model catalog, error mapping, store, keys, CLI."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from llm_magics import errors
from llm_magics.server.auth import BearerKeys
from llm_magics.server.batch_api import BatchLine
from llm_magics.server.gateway import GatewayConfig, Upstream
from llm_magics.server.gateway.catalog import REFETCH_FLOOR_S, ModelCatalog
from llm_magics.server.gateway.cli import build_parser, config_from_args, main
from llm_magics.server.gateway.relay import priority_of, to_openai_error
from llm_magics.server.gateway.slots import PrioritySlots
from llm_magics.server.gateway.store import GatewayStore
from llm_magics.server.openai_shapes import ErrorReply
from tests.support.gateway import GatewayProcess
from tests.support.sim import Simulator

# ---------------------------------------------------------------------- slots


def test_slots_go_to_the_best_waiter_first() -> None:
    async def scenario() -> list[str]:
        slots = PrioritySlots(1)
        order: list[str] = []
        await slots.acquire("bulk")  # hold the only slot

        async def wait_for(name: str, priority: str) -> None:
            async with slots.hold(priority):
                order.append(name)

        tasks = [asyncio.ensure_future(wait_for("bulk-1", "bulk")),
                 asyncio.ensure_future(wait_for("high", "high")),
                 asyncio.ensure_future(wait_for("bulk-2", "bulk")),
                 asyncio.ensure_future(wait_for("urgent", "interactive"))]
        await asyncio.sleep(0)
        assert slots.waiting == 4
        slots.release()
        await asyncio.gather(*tasks)
        assert slots.in_use == 0
        return order

    assert asyncio.run(scenario()) == ["urgent", "high", "bulk-1", "bulk-2"]


def test_a_cancelled_waiter_does_not_leak_its_slot() -> None:
    async def scenario() -> int:
        slots = PrioritySlots(1)
        await slots.acquire()
        waiter = asyncio.ensure_future(slots.acquire("interactive"))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        slots.release()
        async with slots.hold():
            assert slots.in_use == 1
        return slots.in_use

    assert asyncio.run(scenario()) == 0


# ---------------------------------------------------------------------- catalog


def test_catalog_fetches_once_and_refetches_for_a_new_name_rarely() -> None:
    calls: list[float] = []
    now = [0.0]
    models = ["a"]

    async def fetch() -> dict:
        calls.append(now[0])
        return {"object": "list", "data": [{"id": m} for m in models]}

    async def scenario() -> None:
        catalog = ModelCatalog(fetch, ttl_s=60, clock=lambda: now[0])
        assert await catalog.resolve("a") == "a"
        assert await catalog.resolve("a") == "a"
        assert len(calls) == 1
        with pytest.raises(ErrorReply) as info:
            await catalog.resolve("typo")
        assert info.value.status_code == 404 and info.value.code == "model_not_found"
        with pytest.raises(ErrorReply):
            await catalog.resolve("typo")
        assert len(calls) == 1  # a typo loop costs no upstream calls
        models.append("new")
        now[0] += REFETCH_FLOOR_S + 0.1
        assert await catalog.resolve("new") == "new"  # appeared upstream: found by one refetch
        assert len(calls) == 2

    asyncio.run(scenario())


def test_catalog_lets_the_upstream_decide_when_it_cannot_list() -> None:
    async def broken() -> dict:
        raise errors.APIConnectionError("down")

    async def scenario() -> None:
        assert await ModelCatalog(broken).resolve("anything") == "anything"
        local = ModelCatalog(broken, served_model="smollm2-135m-instruct")
        assert await local.resolve("gpt-4o-mini") == "smollm2-135m-instruct"

    asyncio.run(scenario())


# ---------------------------------------------------------------------- relay


UPSTREAM = Upstream("http://127.0.0.1:1/v1", "sk-upstream-secret-key-42")


def test_errors_map_to_gateway_statuses_without_the_key() -> None:
    auth = to_openai_error(errors.AuthenticationError("bad key", status_code=401), UPSTREAM)
    assert auth.status_code == 502 and auth.code == "upstream_auth_failed"
    limited = to_openai_error(errors.RateLimitError("slow down", status_code=429,
                                                    retry_after_s=2.2), UPSTREAM)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert limited.type == "requests"
    circuit = to_openai_error(errors.CircuitOpenError("open", retry_after_s=4.0), UPSTREAM)
    assert circuit.status_code == 503 and circuit.headers["retry-after"] == "4"
    assert to_openai_error(errors.APITimeoutError("t"), UPSTREAM).status_code == 504
    assert to_openai_error(errors.APIConnectionError("c"), UPSTREAM).status_code == 502
    echoed = to_openai_error(errors.ServerError(f"boom {UPSTREAM.api_key}", status_code=500),
                             UPSTREAM)
    assert echoed.status_code == 500 and UPSTREAM.api_key not in echoed.message
    assert UPSTREAM.api_key not in repr(UPSTREAM)


def test_priority_header() -> None:
    assert priority_of({}, "high") == "high"
    assert priority_of({"x-llm-priority": " Interactive "}, "high") == "interactive"
    with pytest.raises(ErrorReply):
        priority_of({"x-llm-priority": "now"}, "high")


# ---------------------------------------------------------------------- store


def test_store_commits_each_line_once_and_survives_reopening(tmp_path: Path) -> None:
    store = GatewayStore(tmp_path)
    store.replace_lines("b1", [BatchLine(f"c{i}", {"i": i}) for i in range(4)])
    assert store.finish_line("b1", 2, True, '{"custom_id":"c2"}')
    assert not store.finish_line("b1", 2, False, '{"custom_id":"again"}')  # first answer wins
    assert store.finish_line("b1", 0, False, '{"custom_id":"c0"}')
    store.close()

    reopened = GatewayStore(tmp_path)
    assert [(i, c) for i, c, _ in reopened.pending_lines("b1")] == [(1, "c1"), (3, "c3")]
    assert reopened.pending_lines("b1")[0][2] == {"i": 1}
    assert reopened.line_counts("b1") == (4, 1, 1)
    assert list(reopened.records("b1", ok=True)) == ['{"custom_id":"c2"}']
    assert list(reopened.records("b1", ok=False)) == ['{"custom_id":"c0"}']
    reopened.close()


def test_one_gateway_per_state_dir(tmp_path: Path) -> None:
    first = GatewayStore(tmp_path)
    with pytest.raises(errors.ConfigurationError, match="Another gateway"):
        GatewayStore(tmp_path)
    first.close()
    GatewayStore(tmp_path).close()  # free again once the first one is gone


# ---------------------------------------------------------------------- keys and config


def test_bearer_keys() -> None:
    keys = BearerKeys(["k1", "k2"])
    scope = {"headers": [(b"authorization", b"bearer k2")]}
    assert keys.check(scope) is None
    wrong = keys.check({"headers": [(b"authorization", b"Bearer nope")]})
    assert wrong is not None and wrong.code == "invalid_api_key" and "nope" not in wrong.message
    missing = keys.check({"headers": []})
    assert missing is not None and missing.status_code == 401
    assert BearerKeys([]).check({"headers": []}) is None and not BearerKeys([]).enabled
    assert "k1" not in repr(keys)


def test_config_hides_secrets_and_checks_values() -> None:
    config = GatewayConfig(upstream="http://x/v1", upstream_key="sk-hidden",
                           client_keys=("client-hidden",))
    assert "hidden" not in repr(config)
    for bad in ({"concurrency": 0}, {"rpm": 0}, {"max_file_mb": 0},
                {"default_priority": "urgent"}):
        with pytest.raises(ValueError):
            GatewayConfig(**bad)  # type: ignore[arg-type]


def test_cli_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLM_MAGICS_GATEWAY_KEYS", "a, b")
    monkeypatch.setenv("MY_UPSTREAM_KEY", "sk-from-env")
    args = build_parser().parse_args([
        "--upstream", "http://127.0.0.1:9/v1", "--upstream-key-env", "MY_UPSTREAM_KEY",
        "--rpm", "300", "--no-cache", "--state-dir", str(tmp_path), "--max-file-mb", "5"])
    config = config_from_args(args)
    assert config.client_keys == ("a", "b") and config.upstream_key == "sk-from-env"
    assert (config.rpm, config.cache, config.max_file_bytes) == (300, False, 5 * 1024 * 1024)
    monkeypatch.delenv("MY_UPSTREAM_KEY")
    with pytest.raises(errors.ConfigurationError, match="MY_UPSTREAM_KEY"):
        config_from_args(args)


def test_cli_rejects_a_bad_upstream(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--upstream", "ftp://nowhere", "--port", "0"]) == 2
    assert "expected a base URL" in capsys.readouterr().err


def test_process_warns_when_open_and_never_prints_the_key(tmp_path: Path) -> None:
    secret = "sk-process-secret-0123456789"
    with Simulator(api_key=secret) as sim, GatewayProcess(
            ["--upstream", sim.base_url, "--state-dir", str(tmp_path)],
            env={"OPENAI_API_KEY": secret}) as gateway:
        response = httpx.post(gateway.base_url + "/chat/completions",
                              json={"model": "sim-small",
                                    "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 200 and sim.stats["chat_ok"] == 1
        time.sleep(0.1)
        stderr = gateway.stderr_tail
    assert "WARNING: no client keys" in stderr
    assert secret not in stderr and secret not in response.text
    assert json.loads(response.text)["object"] == "chat.completion"
