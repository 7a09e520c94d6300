"""The simulator as a separate process: port discovery, HTTP control, clean shutdown."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from llm_magics.server.sim import SimConfig, expected_answer
from llm_magics.server.sim.cli import API_KEY_ENV, build_parser, config_from_args
from tests.support.sim import LISTENING, SimulatorProcess, config_to_args

REPO = Path(__file__).resolve().parents[2]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_process_starts_reports_port_is_controllable_and_stops() -> None:
    with SimulatorProcess(answer_tokens=4, rpm=1000) as sim:
        assert sim.port > 0 and sim.base_url == f"http://127.0.0.1:{sim.port}/v1"
        pid = sim.pid
        assert pid is not None and _pid_alive(pid)
        client = OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
        request = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}
        raw = client.chat.completions.with_raw_response.create(**request)
        assert raw.headers["x-ratelimit-limit-requests"] == "1000"  # switches reached the child
        completion = raw.parse()
        assert completion.choices[0].message.content == expected_answer(
            request, SimConfig(answer_tokens=4)
        )
        assert sim.config["answer_tokens"] == 4

        sim.configure(fail_status=503)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(**request)
        stats = sim.stats
        assert stats["chat_requests"] == 2 and stats["server_errors"] == 1
        with pytest.raises(ValueError, match="unknown"):
            sim.configure(bogus=1)

        sim.reset_stats()
        assert sim.stats["chat_requests"] == 0
        port = sim.port
    assert sim.proc is not None and sim.proc.returncode is not None
    assert not _pid_alive(pid)
    assert not _port_open(port)


def test_child_exits_when_its_parent_pipe_closes() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_magics.server.sim", "--port", "0", "--exit-with-parent"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline().decode()
        match = LISTENING.search(line)
        assert match, line
        port = int(match.group(1).rsplit(":", 1)[1])
        assert _port_open(port)
        proc.stdin.close()  # what the OS does when the parent dies
        proc.wait(timeout=10)
        assert not _port_open(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_startup_failure_is_reported_without_leaving_a_process() -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        sim = SimulatorProcess(port=busy.getsockname()[1], startup_timeout=10)
        with pytest.raises(RuntimeError, match="cannot listen"):
            sim.start()
        assert sim.proc is not None and sim.proc.poll() is not None
    finally:
        busy.close()


def test_every_switch_is_a_cli_flag_and_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    config = SimConfig(
        models=["a", "b"], latency_s=0.1, rpm=60, error_rate=0.25, fail_status=400,
        batch_expire_after_fraction=0.5, seed=None, api_key="sk-x",
    )
    argv = config_to_args(config)
    assert "sk-x" not in argv  # a command line is visible to every local user
    monkeypatch.setenv(API_KEY_ENV, "sk-x")  # the key travels in the environment instead
    args = build_parser().parse_args(["--port", "0", *argv])
    assert config_from_args(args) == config
    flags = build_parser().format_help()
    for name in SimConfig().as_dict():
        assert f"--{name.replace('_', '-')}" in flags
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--nope"])


def test_cli_rejects_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    from llm_magics.server.sim import main

    with pytest.raises(SystemExit):
        main(["--port", "0", "--error-rate", "7"])
    assert "error_rate" in capsys.readouterr().err


def test_process_survives_load_and_counts_it() -> None:
    """A quick burst through the async SDK: every call is answered and counted."""
    import asyncio

    with SimulatorProcess() as sim:

        async def burst() -> float:
            async with openai.AsyncOpenAI(
                base_url=sim.base_url, api_key="sk-test", max_retries=0
            ) as client:
                gate = asyncio.Semaphore(32)

                async def one(i: int) -> None:
                    async with gate:
                        await client.chat.completions.create(
                            model="sim-small", messages=[{"role": "user", "content": str(i)}]
                        )

                start = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(300)))
                return time.perf_counter() - start

        elapsed = asyncio.run(burst())
        stats = sim.stats
        assert stats["chat_ok"] == 300 and stats["max_in_flight"] <= 32
        assert elapsed < 15
