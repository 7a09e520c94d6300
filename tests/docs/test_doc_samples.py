"""Every code sample in docs/ and README.md runs, against the simulator, so none can rot.

One IPython shell runs a page's ```python and ```ipython blocks in order, as a
notebook would (see ``doc_samples`` for the conventions). The page on the
Celery queue also gets a real redis-server and a real ``llm-magics worker``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomllib
from doc_samples import (
    GATEWAY_PLACEHOLDER,
    REPO,
    SIM_PLACEHOLDER,
    Sample,
    doc_files,
    runnable,
    samples,
)
from IPython.terminal.interactiveshell import TerminalInteractiveShell
from IPython.testing.tools import default_config
from IPython.utils.capture import capture_output

from llm_magics.jupyter.extension import magics_for
from llm_magics.server.gateway import GatewayConfig
from tests.support.gateway import Gateway
from tests.support.sim import Simulator

API_KEY = "sk-test-docs-key-123456"
MAX_NOT_RUN = 3
# Names the README's tour uses without defining them (a reader's own data).
README_NAMESPACE = (
    "import pandas as pd\n"
    "topic = 'backpressure'\n"
    "df = pd.DataFrame({'review': ['Great battery.', 'Broke in a week.']})\n"
    "words = ['latency', 'jitter']\n"
)
FILES = doc_files()
FILES_WITH_SAMPLES = [f for f in FILES if runnable(f)]


def _id(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    """The simulator the pages talk to (``sim`` resets it before each page)."""
    with Simulator(batch_step_s=0.05) as simulator:
        yield simulator


@pytest.fixture
def shell(sim: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """The IPython test shell with a clean namespace, the simulator as the default endpoint."""
    monkeypatch.setenv("OPENAI_BASE_URL", sim.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("LLM_MAGICS_NO_WIDGETS", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    # The singleton globalipapp also uses, not globalipapp.get_ipython(): only its first
    # caller gets the shell, which would break whichever test directory asks second.
    config = default_config()
    config.TerminalInteractiveShell.simple_prompt = True
    ip = TerminalInteractiveShell.instance(config=config)
    was_loaded = magics_for(ip) is not None  # other test files share this shell: leave it
    before = dict(ip.user_ns)                 # as found, whatever the order tests run in
    if was_loaded:
        magics_for(ip).chat.reset()
    yield ip
    magics = magics_for(ip)
    if magics is not None:
        magics.pending.cancel_all()
        magics.pending.settle_all()
        magics.chat.reset()
        if not was_loaded:
            ip.run_line_magic("unload_ext", "llm_magics")
    for name in set(ip.user_ns) - set(before):
        del ip.user_ns[name]
    ip.user_ns.update(before)


@pytest.fixture
def queue_services(sim: Simulator, monkeypatch: pytest.MonkeyPatch,
                   tmp_path: Path) -> Iterator[None]:
    """A real redis-server and one worker whose calls go to the simulator."""
    from tests.support.queue_procs import RedisServer, WorkerProcess

    with RedisServer() as redis:
        env = {"OPENAI_BASE_URL": sim.base_url, "OPENAI_API_KEY": API_KEY,
               "LLM_MAGICS_CACHE_PATH": str(tmp_path / "worker-cache.sqlite"),
               "LLM_MAGICS_REDIS_URL": redis.url}
        with WorkerProcess(redis.url, env=env, concurrency=4):
            monkeypatch.setenv("LLM_MAGICS_REDIS_URL", redis.url)
            yield


@pytest.fixture
def gateway_service(sim: Simulator, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway in front of the simulator, for the samples that call one."""
    config = GatewayConfig(upstream=sim.base_url, upstream_key=API_KEY,
                           state_dir=tmp_path / "gateway")
    with Gateway(config) as gateway:
        yield gateway


def run_cell(shell: Any, sample: Sample, source: str) -> str:
    with capture_output() as captured:
        result = shell.run_cell(source, store_history=False)
    err = result.error_before_exec or result.error_in_exec
    if err is not None or not result.success:
        pytest.fail(f"{sample.where}: sample failed with {err!r}\n--- cell ---\n{source}\n"
                    f"--- stdout ---\n{captured.stdout}\n--- stderr ---\n{captured.stderr}")
    assert "Traceback" not in captured.stdout + captured.stderr, (sample.where, captured.stderr)
    return captured.stdout


@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", FILES_WITH_SAMPLES, ids=_id)
def test_page_samples_run(path: Path, sim: Simulator, shell: Any,
                          request: pytest.FixtureRequest) -> None:
    to_run = [s for s in runnable(path) if s.not_run is None]
    urls = {SIM_PLACEHOLDER: sim.url}
    if path.name == "queue.md":
        request.getfixturevalue("queue_services")
    if path.name == "simulator-gateway.md":
        gateway = request.getfixturevalue("gateway_service")
        urls[GATEWAY_PLACEHOLDER] = gateway.url
    if path.name == "README.md":
        run_cell(shell, to_run[0], README_NAMESPACE)
    printed = []
    for sample in to_run:
        for cell in sample.cells():
            for placeholder, url in urls.items():
                cell = cell.replace(placeholder, url)
            printed.append(run_cell(shell, sample, cell))
    # Real calls were made: the samples talk to the simulator, not to nowhere.
    stats = sim.stats
    assert stats["chat_requests"] + stats["files_uploaded"] > 0, path
    if path.name == "batch.md":
        assert stats["files_uploaded"] >= 3  # the Python, DataFrame and magic jobs
    if path.name == "streaming.md":
        assert stats["chat_streams"] >= 3
    if path.name == "simulator-gateway.md":  # the gateway sample went through the gateway
        assert gateway.on_loop(lambda: gateway.state.traffic.requests) >= 1
    assert API_KEY not in "".join(printed)  # the key never reaches output


def test_queue_page_calls_go_through_the_worker(sim: Simulator, shell: Any,
                                                queue_services: None) -> None:
    """The queue samples really use the worker: the simulator sees their prompts."""
    page = REPO / "docs" / "guides" / "queue.md"
    for sample in runnable(page):
        for cell in sample.cells():
            run_cell(shell, sample, cell.replace(SIM_PLACEHOLDER, sim.url))
    assert sim.stats["chat_requests"] >= 4
    assert [a.text for a in shell.user_ns["answers"]] == [
        a.text for a in __import__("llm_magics").map(
            [f"Define {w}" for w in ("latency", "throughput", "jitter")],
            base_url=sim.base_url, api_key=API_KEY)]


def test_samples_are_found_and_few_are_not_run() -> None:
    every = [s for f in FILES for s in runnable(f)]
    not_run = [s for s in every if s.not_run]
    assert len(every) >= 40, len(every)
    assert len(not_run) <= MAX_NOT_RUN, [s.where for s in not_run]
    assert any(s.path.name == "README.md" for s in every)
    assert any(s.lang == "ipython" and "%%llm_stream" in s.source for s in every)


def test_readme_samples_are_extracted_as_notebook_cells() -> None:
    tour = next(s for s in runnable(REPO / "README.md") if "%load_ext" in s.source)
    cells = tour.cells()
    assert cells[0].startswith("%load_ext llm_magics")
    assert [c.split("\n", 1)[0] for c in cells[1:3]] == [
        "%%llm -m gpt-4o-mini --format markdown --out answer", "%%llm_stream"]


# -- shell commands: checked against the real CLI and pyproject, not run ---------------------
def _commands() -> list[tuple[Sample, list[str]]]:
    found = []
    for path in FILES:
        for sample in samples(path):
            if sample.lang not in ("bash", "sh", "console", "shell"):
                continue
            for line in sample.source.splitlines():
                for part in line.split("&&"):
                    tokens = shlex.split(part.strip().lstrip("$ "))
                    while tokens and re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0]):
                        tokens = tokens[1:]  # VAR=value prefixes
                    if tokens:
                        found.append((sample, tokens))
    return found


def _extras() -> set[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(data["project"]["optional-dependencies"])


def _help(argv: list[str]) -> str:
    proc = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=60,
                          cwd=REPO)
    assert proc.returncode == 0, (argv, proc.stderr)
    return proc.stdout


COMMANDS = _commands()


def test_shell_commands_exist_and_accept_their_flags() -> None:
    cli = [sys.executable, "-c", "from llm_magics.cli import main; main()"]
    checked = 0
    for sample, tokens in COMMANDS:
        if tokens[0] == "llm-magics":
            path = [t for t in tokens[1:] if not t.startswith("-")]
            words = path[:2] if path[:1] == ["local"] else path[:1]
            argv = [*cli, *words]
        elif tokens[:2] == ["python", "-m"] and tokens[2].startswith("llm_magics"):
            argv = [sys.executable, "-m", tokens[2]]
        else:
            continue
        text = _help(argv)
        flags = [t.split("=")[0] for t in tokens if t.startswith("--")]
        missing = [f for f in flags if f not in text]
        assert not missing, (sample.where, tokens, missing)
        checked += 1
    assert checked >= 8


def test_pip_extras_in_commands_exist() -> None:
    extras = _extras()
    seen = 0
    for sample, tokens in COMMANDS:
        if tokens[:2] != ["pip", "install"]:
            continue
        for spec in tokens[2:]:
            m = re.search(r"\[([\w,-]+)\]", spec)
            if m:
                unknown = set(m[1].split(",")) - extras
                assert not unknown, (sample.where, spec, unknown)
                seen += 1
    assert seen >= 3


def test_every_page_in_docs_is_ours_or_known() -> None:
    """Generated pages must not exist as files (the hook refuses to build then)."""
    from tools.docgen import PAGES

    for page in PAGES:
        assert not (REPO / "docs" / page).exists(), page
    assert os.path.isfile(REPO / "mkdocs.yml")
