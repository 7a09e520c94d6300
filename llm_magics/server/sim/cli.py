"""``llm-magics sim`` / ``python -m llm_magics.server.sim``: the simulator as a process.

Every :class:`SimConfig` field is a flag (``answer_tokens`` -> ``--answer-tokens``),
so whatever a test sets in Python can be reproduced by hand. The process prints
one line, ``llm-magics sim listening on http://HOST:PORT/v1``, once it accepts
connections, so a parent that starts it with ``--port 0`` learns its URL from it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from ..serving import AppServer, bind_socket, exit_with_parent, url_for, uvicorn_config
from .app import create_app
from .config import SimConfig

API_KEY_ENV = "LLM_MAGICS_SIM_API_KEY"
"""The simulator's key, read when ``--api-key`` is not given (a command line is public)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-magics sim",
        description="OpenAI-compatible simulator with fault injection (chat, SSE, files, batches).",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default 127.0.0.1; loopback only unless you ask)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    parser.add_argument("--log-level", default="warning",
                        choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit when stdin closes (for a parent that runs it as a child)")
    group = parser.add_argument_group("switches (also settable live via POST /_sim/config)")
    defaults = SimConfig()
    for f in fields(SimConfig):
        default = getattr(defaults, f.name)
        shown = ",".join(default) if isinstance(default, list) else default
        group.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            default=None,
            metavar=f.name.upper(),
            help=f"{f.metadata.get('help', '')} (default: {shown})"
            if f.name != "api_key" else f"{f.metadata.get('help', '')}; prefer ${API_KEY_ENV}, "
            "as a command line is visible to every local user",
        )
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    switches: dict[str, Any] = {
        f.name: getattr(args, f.name) for f in fields(SimConfig)
        if getattr(args, f.name) is not None
    }
    if "api_key" not in switches and os.environ.get(API_KEY_ENV):
        switches["api_key"] = os.environ[API_KEY_ENV]
    return SimConfig().updated(**switches)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGINT/SIGTERM; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.api_key is not None:
        print(f"llm-magics sim: WARNING: --api-key puts the key on the command line, where any "
              f"local user can read it; set ${API_KEY_ENV} instead.", file=sys.stderr, flush=True)
    try:
        config = config_from_args(args)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    app = create_app(config)
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"llm-magics sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    state = app.sim
    server = AppServer(uvicorn_config(app, log_level=args.log_level, in_process=False),
                       on_exit=lambda: setattr(state, "closing", True))
    if args.exit_with_parent:
        exit_with_parent()
    print(f"llm-magics sim listening on {url_for(args.host, port)}/v1", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after a clean shutdown
        return 130
    return 0
