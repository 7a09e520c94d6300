"""The parent's side: worker processes to send tasks to, and simulator counters.

A :class:`Worker` is one ``python -m benchmarks.worker`` process, talked to
over JSON lines; a scenario keeps one per contender alive and alternates
tasks between them. :func:`sim_counts` reads the simulator's counters
without the acceptance timestamps (100,000 floats per call otherwise).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

import httpx

from .worker import MARK

__all__ = ["Worker", "WorkerError", "sim_counts", "sim_cpu_s", "REPO"]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT_S = 1_200.0


class WorkerError(RuntimeError):
    """A task failed inside a worker, or the worker died; carries its stderr tail."""


class Worker:
    """One contender's process. ``run(op, **task)`` sends a task and waits for its answer.

    >>> with Worker("bare") as w:                                      # doctest: +SKIP
    ...     w.run("fanout", contender="bare", base_url=url, n=100, tag="x", concurrency=8)
    """

    def __init__(self, label: str, *, workdir: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.label = label
        self._tmp = tempfile.TemporaryDirectory(prefix=f"bench-{label}-")
        self.workdir = workdir or Path(self._tmp.name)
        self.extra_env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._stderr_path = Path(self._tmp.name) / "stderr.log"
        self._stderr: IO[str] | None = None

    def start(self) -> Worker:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env["LLM_MAGICS_CACHE_PATH"] = str(self.workdir / "cache.sqlite")
        env["LLM_MAGICS_JOBSTORE_PATH"] = str(self.workdir / "jobs.sqlite")
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        env.update(self.extra_env)
        self._stderr = open(self._stderr_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker"], cwd=REPO, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                self._answers.put(line[len(MARK):])
        self._answers.put(None)

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            return "".join(self._stderr_path.read_text().splitlines(True)[-lines:])
        except OSError:
            return ""

    def run(self, op: str, timeout: float = DEFAULT_TIMEOUT_S, **task: Any) -> dict[str, Any]:
        if self.proc is None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **task}) + "\n")
        self.proc.stdin.flush()
        try:
            answer = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise WorkerError(f"worker {self.label}: no answer to {op} in {timeout:.0f}s") from None
        if answer is None:
            raise WorkerError(f"worker {self.label} exited:\n{self.stderr_tail()}")
        result = json.loads(answer)
        if "error" in result:
            raise WorkerError(f"worker {self.label}, {op}: {result['error']}\n"
                              f"{result.get('traceback', '')}{self.stderr_tail(10)}")
        return result

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._tmp.cleanup()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sim_counts(sim: Any) -> dict[str, Any]:
    """The simulator's counters, without the acceptance timestamps."""
    response = httpx.get(f"{sim.url}/_sim/stats", params={"times": "false"}, timeout=30)
    response.raise_for_status()
    return response.json()


def sim_cpu_s(sim: Any) -> float:
    """CPU seconds the simulator process has used (NaN without psutil)."""
    try:
        import psutil
    except ImportError:
        return float("nan")
    times = psutil.Process(sim.pid).cpu_times()
    return times.user + times.system
