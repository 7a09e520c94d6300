"""Browser tier: JupyterLab (subprocess) + Debian's Chromium (Playwright) + the simulator.

Skipped unless playwright, jupyterlab and a chromium binary are installed
(``.ci/install-browser.sh`` installs chromium; the Python packages are in the
``dev`` extra). One JupyterLab server and one browser serve the whole session;
every test writes its own notebook, gets its own page and kernel, and the
kernel is shut down after it. Screenshots go to each test's tmp dir; with
``LLM_MAGICS_UPDATE_SCREENSHOTS=1`` the documented ones are copied to ``docs/img``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from lab_helpers import CHROMIUM_ARGS, JupyterLab, NotebookPage, find_chromium, write_notebook
from playwright.sync_api import sync_playwright  # the dev extra: a missing one is a failure

from tests.support.sim import Simulator

CHROMIUM = find_chromium()
if CHROMIUM is None:  # CI installs it; the tier must run, never be skipped quietly
    pytest.fail("chromium is not installed: run .ci/install-browser.sh", pytrace=False)

REPO = Path(__file__).resolve().parents[2]
DOCS_IMG = REPO / "docs" / "img"
API_KEY = "sk-browser-test-key-0000"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DOC_SHOTS = {"stream-live", "stream-stopped", "batch-validating", "batch-tracker",
             "progress-done"}
# read at import: the suite's autouse fixture clears LLM_MAGICS_* from the environment
UPDATE_DOCS = os.environ.get("LLM_MAGICS_UPDATE_SCREENSHOTS") == "1"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture(scope="module")
def lab(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LLM_MAGICS_") and k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY=API_KEY,
               LLM_MAGICS_CACHE_PATH=str(base / "cache.sqlite"),
               LLM_MAGICS_JOBSTORE_PATH=str(base / "jobs.sqlite"),
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    server = JupyterLab(root, env, base / "jupyterlab.log").start()
    try:
        yield server
    finally:
        server.stop()
        assert not server.leftovers(), f"processes left running: {server.leftovers()}"


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    outside: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, device_scale_factor=1,
        )

        def guard(route: Any) -> None:
            host = urlsplit(route.request.url).hostname or ""
            if host in LOOPBACK or route.request.url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        context.outside_requests = outside
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def open_notebook(lab: JupyterLab, browser_context: Any, sim: Simulator,
                  request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """``open_notebook(cells) -> NotebookPage``: write it, open it, wait for an idle kernel."""
    pages: list[Any] = []
    sim.reset("all")

    def opener(cells: list[str]) -> NotebookPage:
        name = f"{request.node.name.replace('[', '-').replace(']', '')}.ipynb"
        write_notebook(lab.root / name, cells)
        page = browser_context.new_page()
        pages.append(page)
        return NotebookPage(page, lab, name).open()

    yield opener
    leaked = []
    for i, page in enumerate(pages):  # the whole page at the end: first thing to look at
        page.screenshot(path=str(tmp_path / f"page-{i}-end.png"))
        if API_KEY in page.content():
            leaked.append(page.url)
        page.close()
    for kernel in lab.api("GET", "api/kernels") or []:
        lab.api("DELETE", f"api/kernels/{kernel['id']}")
    assert browser_context.outside_requests == [], "the browser tried to leave 127.0.0.1"
    assert not leaked, "the API key reached the page"


@pytest.fixture
def shoot(tmp_path: Path) -> Any:
    """``shoot(locator, "stream-live")``: PNG into tmp_path (and docs/img when asked)."""

    def take(target: Any, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        target.screenshot(path=str(path))
        if UPDATE_DOCS and name in DOC_SHOTS:
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_IMG / path.name)
        return path

    return take
