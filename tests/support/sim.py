"""Run the simulator from Python: in a background thread, or as a separate process.

:class:`Simulator` is the light choice for tests: same process, live access to
state, starts in milliseconds. Its server shares the GIL with the client under
test, so for benchmarks and heavy load use :class:`SimulatorProcess`, which
runs ``python -m llm_magics.server.sim`` and talks to it over the ``/_sim``
control endpoints. Both clean up on ``__exit__``, on ``stop()`` and at
interpreter exit; the child process also exits by itself if its parent dies
(it watches its stdin pipe). The thread and process plumbing is shared with
the gateway (``threaded``, ``process``).
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from llm_magics.core.endpoint import HOSTED_DEFAULT_MODEL
from llm_magics.server.sim import SimConfig, create_app, expected_answer
from llm_magics.server.sim.cli import API_KEY_ENV

from .process import ServerProcess
from .threaded import ThreadedServer

__all__ = ["LISTENING", "Simulator", "SimulatorProcess", "chat_body", "config_to_args",
           "hosted_answer", "settled"]

LISTENING = re.compile(r"llm-magics sim listening on (http://\S+)/v1")


def _build_config(config: SimConfig | None, switches: dict[str, Any]) -> SimConfig:
    base = config or SimConfig()
    return base.updated(**switches) if switches else base


class Simulator(ThreadedServer):
    """The simulator on ``127.0.0.1:<free port>`` in a daemon thread.

    >>> with Simulator(answer_tokens=8, rpm=60) as sim:
    ...     client = OpenAI(base_url=sim.base_url, api_key="sk-test")
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **switches: Any,
    ) -> None:
        app = create_app(_build_config(config, switches))
        state = app.sim
        super().__init__(app, host=host, port=port, name="llm-magics-sim",
                         on_exit=lambda: setattr(state, "closing", True))

    @property
    def config(self) -> SimConfig:
        return self.app.sim.config

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (see ``GET /_sim/stats``)."""
        return self.on_loop(self.app.sim.stats.snapshot)

    def configure(self, **switches: Any) -> SimConfig:
        """Change switches live; raises ``ValueError`` for unknown names or bad values."""
        return self.on_loop(lambda: self.app.sim.configure(**switches))

    def reset_stats(self) -> None:
        """Zero the counters (limits, dice and switches untouched)."""
        self.reset("stats")

    def reset(self, scope: str = "all") -> None:
        """``run``: counters, rate-limit windows, fault dice; ``all``: also the switches."""
        self.on_loop(lambda: self.app.sim.reset(scope))


def settled(sim: Simulator, timeout: float = 2.0) -> Simulator:
    """``sim`` back to its startup switches and zero counters, once in-flight calls end.

    A previous test's stopped stream or abandoned request may still be closing;
    resetting under it would count its tail against the next test.
    """
    deadline = time.monotonic() + timeout
    while sim.stats["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.01)
    sim.reset("all")
    return sim


def chat_body(prompt: str, *, model: str = "sim-small", system: str | None = None,
              **params: Any) -> dict[str, Any]:
    """The chat body the library sends for ``prompt`` (what ``expected_answer`` needs)."""
    messages = [{"role": "user", "content": prompt}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return {"model": model, "messages": messages, **params}


def hosted_answer(sim: Simulator, prompt: str, **params: Any) -> str:
    """What ``sim`` answers a notebook's call: ``prompt`` to the default hosted model."""
    return expected_answer(chat_body(prompt, model=HOSTED_DEFAULT_MODEL, **params), sim.config)


def config_to_args(config: SimConfig) -> list[str]:
    """CLI flags reproducing ``config`` (only fields that differ from the defaults).

    The key is left out: a command line is visible to every local user, so it
    goes to the child in ``LLM_MAGICS_SIM_API_KEY`` instead.
    """
    defaults = SimConfig().as_dict()
    args: list[str] = []
    for name, value in config.as_dict().items():
        if name == "api_key" or value == defaults[name]:
            continue
        if isinstance(value, list):
            text = ",".join(value)
        elif value is None:
            text = "none"
        else:
            text = str(value)
        args += [f"--{name.replace('_', '-')}", text]
    return args


class SimulatorProcess(ServerProcess):
    """The simulator as a child process (its own GIL), controlled over HTTP.

    >>> with SimulatorProcess(latency_s=0.05) as sim:
    ...     sim.configure(error_rate=0.1)
    ...     print(sim.stats["chat_requests"])
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        python: str | None = None,
        startup_timeout: float = 30.0,
        **switches: Any,
    ) -> None:
        self.host = host
        self.initial_config = _build_config(config, switches)
        super().__init__(
            "llm_magics.server.sim",
            [
                "--host", host, "--port", str(port), "--exit-with-parent",
                *config_to_args(self.initial_config),
            ],
            listening=LISTENING,
            env={API_KEY_ENV: self.initial_config.api_key} if self.initial_config.api_key else None,
            python=python,
            startup_timeout=startup_timeout,
            name="simulator",
        )
        self.port = port
        self._http: httpx.Client | None = None

    def start(self) -> SimulatorProcess:
        if self.proc is not None and self.proc.poll() is None:
            return self
        super().start()
        self._http = httpx.Client(base_url=self.url, timeout=10.0)
        self._use_key(self.initial_config.api_key)
        return self

    def _use_key(self, key: str | None) -> None:
        """Send ``key`` with every control call (the control routes need it when it is set)."""
        if self._http is None:
            return
        if key:
            self._http.headers["authorization"] = f"Bearer {key}"
        else:
            self._http.headers.pop("authorization", None)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (graceful), then SIGKILL if needed; returns the exit code."""
        if self._http is not None:
            self._http.close()
            self._http = None
        return super().stop(timeout)

    # ------------------------------------------------------------- control

    def _client(self) -> httpx.Client:
        if self._http is None:
            raise RuntimeError("the simulator process is not running; call start()")
        return self._http

    def _get(self, path: str) -> dict[str, Any]:
        response = self._client().get(path)
        response.raise_for_status()
        return response.json()

    @property
    def stats(self) -> dict[str, Any]:
        return self._get("/_sim/stats")

    @property
    def config(self) -> dict[str, Any]:
        return self._get("/_sim/config")

    def configure(self, **switches: Any) -> dict[str, Any]:
        response = self._client().post("/_sim/config", json=switches)
        if response.status_code == 400:
            raise ValueError(response.json()["error"]["message"])
        response.raise_for_status()
        if "api_key" in switches:
            self._use_key(switches["api_key"])
        return response.json()

    def reset_stats(self) -> None:
        """Zero the counters (limits, dice and switches untouched)."""
        self.reset("stats")

    def reset(self, scope: str = "all") -> None:
        """``run``: counters, rate-limit windows, fault dice; ``all``: also the switches."""
        self._client().post("/_sim/reset", params={"scope": scope}).raise_for_status()
        if scope == "all":
            self._use_key(self.initial_config.api_key)
