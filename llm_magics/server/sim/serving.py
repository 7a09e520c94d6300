"""Where the simulator's socket and uvicorn helpers used to live; they are in ``server.serving``.

Kept as a re-export so code that imported them from here (test proxies,
benchmarks) keeps working.
"""

from __future__ import annotations

from ..serving import BACKLOG, AppServer, bind_socket, url_for, uvicorn_config

__all__ = ["BACKLOG", "AppServer", "bind_socket", "url_for", "uvicorn_config"]
