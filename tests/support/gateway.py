"""Run the gateway from Python: in a background thread, or as a separate process.

:class:`Gateway` is the light choice for tests (same process, starts in
milliseconds, live access to its state). :class:`GatewayProcess` runs
``python -m llm_magics.server.gateway`` with its own GIL, as in production,
and can be killed with SIGKILL to test that batches survive a crash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from llm_magics.server.gateway import (
    GatewayApp,
    GatewayConfig,
    Upstream,
    create_app,
    resolve_upstream,
)
from llm_magics.server.gateway.state import GatewayState

from .process import ServerProcess
from .threaded import ThreadedServer

__all__ = ["LISTENING", "Gateway", "GatewayProcess"]

LISTENING = re.compile(r"llm-magics serve listening on (http://\S+)/v1")


class Gateway(ThreadedServer):
    """The gateway on ``127.0.0.1:<free port>`` in a daemon thread.

    >>> with Gateway(GatewayConfig(upstream=sim.base_url, state_dir=tmp)) as gw:  # doctest: +SKIP
    ...     client = OpenAI(base_url=gw.base_url, api_key="any")
    """

    app: GatewayApp

    def __init__(self, config: GatewayConfig, upstream: Upstream | None = None, *,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.upstream = upstream or resolve_upstream(config.upstream, config.upstream_key)
        super().__init__(create_app(config, self.upstream, host=host), host=host, port=port,
                         name="llm-magics-gateway", limits=config.connection_limits)

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.app.gateway.store.close()

    @property
    def state(self) -> GatewayState:
        return self.app.gateway


class GatewayProcess(ServerProcess):
    """``llm-magics serve`` as a child process; ``args`` are its command-line flags.

    >>> with GatewayProcess(["--upstream", sim.base_url, "--state-dir", d]) as gw:  # doctest: +SKIP
    ...     gw.kill()          # SIGKILL, then gw.start() resumes from the same state dir
    """

    def __init__(self, args: Sequence[str], *, env: Mapping[str, str] | None = None,
                 startup_timeout: float = 60.0, cwd: str | None = None) -> None:
        super().__init__(
            "llm_magics.server.gateway",
            ["--port", "0", "--exit-with-parent", *args],
            listening=LISTENING,
            env=env,
            startup_timeout=startup_timeout,
            name="gateway",
            cwd=cwd,
        )

    def start(self) -> GatewayProcess:
        super().start()
        if "--port" in self.args[2:]:  # an explicit port wins; keep it for restarts
            return self
        # Restart on the same port so clients keep their base_url across a crash.
        self.args = ["--port", str(self.port), *self.args[2:]]
        return self
