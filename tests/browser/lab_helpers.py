"""JupyterLab as a subprocess and a small driver for its notebook UI in Playwright.

The server runs on 127.0.0.1 with token auth, isolated config/settings/workspace
directories, the extension manager read-only and news/update checks off, so
nothing it does leaves the machine. Chromium (Debian's, through Playwright's
``executable_path``) resolves every host but 127.0.0.1 to nothing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-dev-shm-usage",
    # belt and braces: no name but the loopback resolves, whatever a page asks for
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def find_chromium() -> str | None:
    for candidate in (os.environ.get("LLM_MAGICS_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), "/usr/lib/chromium/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_notebook(path: Path, cells: list[str]) -> None:
    """A minimal nbformat-4 notebook with a python3 kernelspec (so no kernel dialog)."""
    nb = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                           "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": None,
             "outputs": [], "source": source}
            for i, source in enumerate(cells)
        ],
    }
    path.write_text(json.dumps(nb, indent=1))


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (kernels run in their own sessions, not our group)."""
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            child = int(entry.name)
            if ppid == parent and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class JupyterLab:
    """``jupyter lab`` on a free loopback port; ``stop()`` leaves no server or kernel behind."""

    def __init__(self, root: Path, env: dict[str, str], log_path: Path) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen_pids: set[int] = set()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def start(self, timeout: float = 60.0) -> JupyterLab:
        state = self.root.parent / "lab-state"
        settings = state / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        # no "get Jupyter news?" toast over the cells, no update check
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        # every cell stays in the DOM, so "the n-th cell" is stable however the page scrolls
        notebook = state / "settings" / "@jupyterlab" / "notebook-extension"
        notebook.mkdir(parents=True, exist_ok=True)
        (notebook / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        env = dict(self.env)
        env.update(JUPYTER_CONFIG_DIR=str(state / "config"),
                   JUPYTER_RUNTIME_DIR=str(state / "runtime"),
                   IPYTHONDIR=str(state / "ipython"),
                   JUPYTER_PLATFORM_DIRS="1")
        cmd = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            f"--IdentityProvider.token={self.token}", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={state / 'settings'}",
            f"--LabApp.workspaces_dir={state / 'workspaces'}",
        ]
        if os.geteuid() == 0:  # CI containers run as root
            cmd.append("--allow-root")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {self.log_path.read_text()[-3000:]}")
            try:
                self.api("GET", "api/status")
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"jupyter lab did not start: {self.log_path.read_text()[-3000:]}")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url(path), method=method, data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            body = response.read()
        return json.loads(body) if body else None

    def kernel_pids(self) -> set[int]:
        if self.proc is None:
            return set()
        pids = _children(self.proc.pid)
        self.seen_pids |= pids
        return pids

    def stop(self) -> None:
        """Shut kernels down through the API, stop the server, then kill any straggler."""
        if self.proc is None:
            return
        self.kernel_pids()
        try:
            for kernel in self.api("GET", "api/kernels") or []:
                self.api("DELETE", f"api/kernels/{kernel['id']}")
        except OSError:
            pass
        self.kernel_pids()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in self.seen_pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.seen_pids:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._log.close()
        self.proc = None

    def leftovers(self) -> list[int]:
        return sorted(p for p in self.seen_pids if _alive(p))


# -- the notebook UI -----------------------------------------------------------------------------
class NotebookPage:
    """One open notebook in JupyterLab: run cells with the UI, read their outputs."""

    def __init__(self, page: Any, lab: JupyterLab, name: str) -> None:
        self.page = page
        self.lab = lab
        self.name = name

    def open(self, timeout: float = 90_000) -> NotebookPage:
        # Start the kernel session first: the page then attaches to it instead of asking
        # "Select Kernel" (which it does when it loads before the kernelspecs).
        self.lab.api("POST", "api/sessions", {"path": self.name, "name": self.name,
                                              "type": "notebook", "kernel": {"name": "python3"}})
        # A workspace of its own (emptied by ?reset): no tab of an earlier test is restored,
        # so no other notebook starts a kernel or takes the focus.
        workspace = re.sub(r"\W", "-", self.name.removesuffix(".ipynb"))
        self.page.goto(self.lab.url(f"lab/workspaces/{workspace}/tree/{self.name}") + "&reset",
                       timeout=timeout)
        self.cell(0).locator(".cm-content").wait_for(timeout=timeout)
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count():  # should not happen with the session above; accept it if it does
            dialog.get_by_role("button", name="Select").click()
        self.wait_idle(timeout)
        return self

    def wait_idle(self, timeout: float = 60_000) -> None:
        """The toolbar's kernel indicator says idle (the kernel has started and is free)."""
        self.page.locator(
            ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator"
            "[data-status='idle']").first.wait_for(timeout=timeout)
        self.page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).first.wait_for(
            timeout=timeout)

    def cell(self, index: int) -> Any:
        return self.page.locator(
            ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)

    def output(self, index: int) -> Any:
        return self.cell(index).locator(".jp-OutputArea")

    def prompt(self, index: int) -> str:
        return self.cell(index).locator(".jp-InputArea-prompt").inner_text().strip()

    def run(self, index: int, *, wait: bool = True, timeout: float = 60_000) -> None:
        """Focus cell ``index``'s editor and press Shift+Enter, as a user would.

        A key press that lands before the editor has focus is lost, so the press is
        repeated until the prompt leaves ``[ ]`` (queued ``[*]`` or done ``[n]``);
        a cell that already ran is never run twice.
        """
        cell = self.cell(index)
        prompt = cell.locator(".jp-InputArea-prompt")
        before = prompt.inner_text().strip()
        for _ in range(5):
            cell.locator(".jp-InputArea-editor .cm-content").click()
            self.page.keyboard.press("Shift+Enter")
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                now = prompt.inner_text().strip()
                if "*" in now or (re.search(r"\[\d+\]", now) and now != before):
                    break
                self.page.wait_for_timeout(50)
            else:
                continue
            break
        else:
            raise AssertionError(f"cell {index} never started: prompt still {before!r}")
        if wait:
            self.wait_done(index, timeout)

    def wait_done(self, index: int, timeout: float = 60_000) -> int:
        """Wait until the cell shows an execution count (``[n]:``, not ``[*]:``); return n."""
        prompt = self.cell(index).locator(".jp-InputArea-prompt")
        deadline = time.monotonic() + timeout / 1000
        while time.monotonic() < deadline:
            match = re.search(r"\[(\d+)\]", prompt.inner_text())
            if match:
                return int(match.group(1))
            self.page.wait_for_timeout(50)
        raise AssertionError(f"cell {index} did not finish: prompt {prompt.inner_text()!r}")

    def text(self, index: int) -> str:
        return self.output(index).inner_text()

    def errors(self) -> list[str]:
        return self.page.locator(".jp-OutputArea-output[data-mime-type="
                                 "'application/vnd.jupyter.stderr']").all_inner_texts()
