"""``llm-magics local start|stop|status``: manage the embedded model from a shell.

``start`` launches a *detached* server that keeps running after the command
returns (until ``stop``), so several notebooks and scripts can share it.
Exit codes: 0 on success (``status``: a server is running), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import LocalModelError
from .manager import start, status, stop

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="llm-magics local",
        description="Start, stop or inspect the embedded llama.cpp server (SmolLM2-135M).",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p_start = sub.add_parser("start", help="start a detached server (or show the running one)")
    p_start.add_argument("--model", metavar="GGUF",
                         help="serve this GGUF file instead of the packaged SmolLM2")
    p_start.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sub.add_parser("stop", help="stop the running server")
    p_status = sub.add_parser("status", help="show the running server, if any")
    p_status.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    try:
        if args.action == "start":
            return _start(args.model, args.json)
        if args.action == "stop":
            print("stopped the local model server" if stop() else "no local model server running")
            return 0
        return _status(args.json)
    except LocalModelError as err:
        print(f"llm-magics local {args.action}: {err}", file=sys.stderr)
        return 1


def _start(model: str | None, as_json: bool) -> int:
    before = status()
    server = start(detached=True, model_path=model)
    info = status()
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    reused = before.get("running") and before.get("pid") == server.pid
    print(f"{'already running' if reused else 'started'}: {server.base_url} "
          f"(model {server.model}, pid {server.pid})")
    if server.mode == "owned":
        print(f"note: this server belongs to pid {server.owner_pid} and stops when it exits; "
              "run `llm-magics local stop` and start again for one that stays up.")
    return 0


def _status(as_json: bool) -> int:
    info = status()
    if as_json:
        print(json.dumps(info, indent=2))
    elif not info["running"]:
        print("no local model server running")
    else:
        health = "healthy" if info["healthy"] else "NOT ANSWERING"
        owner = f", owned by pid {info['owner_pid']}" if info["mode"] == "owned" else ""
        print(f"running ({health}): {info['base_url']}  model {info['model']}  pid {info['pid']}"
              f"  {info['mode']}{owner}  up {info['uptime_s']:.0f} s\n"
              f"model file: {info['model_path']}\nlog: {info['log_path']}")
    return 0 if info["running"] else 1
