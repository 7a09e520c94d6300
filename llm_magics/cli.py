"""The ``llm-magics`` command: each subcommand hands its arguments to the module that owns it.

    llm-magics sim --port 0 --rpm 600      # the OpenAI-compatible simulator
    llm-magics local start|stop|status     # the embedded llama.cpp model
    llm-magics quickstart                  # execute the quickstart notebook, write HTML
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main"]

# subcommand -> (module with a main(argv) function, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("llm_magics.server.sim", "run the OpenAI-compatible simulator (tests, demos)"),
    "local": ("llm_magics.local", "start, stop or show the embedded local model server"),
    "quickstart": ("llm_magics.quickstart", "execute notebooks/quickstart.ipynb, write HTML"),
    "jobs": ("llm_magics.batch", "list batch jobs from the job store (survives restarts)"),
    "history": ("llm_magics.history_cli", "spend, tokens and errors from the call log (--json)"),
    "serve": ("llm_magics.server.gateway",
              "OpenAI-compatible gateway: shared limits, cache, SSE, Batch API for any server"),
    "worker": ("llm_magics.queue.worker", "run a Celery worker for mode='queue' (needs Redis)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="llm-magics",
        description="LLM calls from Jupyter and scripts: magics, fan-outs, batch, queue.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        parser.error(f"unknown command {command!r}; choose from {', '.join(SUBCOMMANDS)}")
    module = importlib.import_module(SUBCOMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
