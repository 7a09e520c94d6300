"""Execute a notebook with nbclient in a real kernel, and read what its cells showed.

The kernel imports this checkout, sees no ``LLM_MAGICS_*`` / ``OPENAI_*``
setting but the ones a test passes, and keeps its cache and job store in the
test's own directory, where it also runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from .env import REPO, on_repo_path, without_settings

__all__ = ["WIDGET", "by_tag", "code_cell", "execute", "failed_cells", "kernel_env", "run",
           "saved_clean", "stdout", "text_of"]

WIDGET = "application/vnd.jupyter.widget-view+json"
SIM_ONLY = ("ECHO:", "STATUS:", "TOKENS:", "SLEEP:", "sim-")  # directives and model names


def saved_clean(name: str) -> Any:
    """``notebooks/<name>`` as saved: valid, without outputs, and free of anything only the
    simulator understands, so it runs unchanged on a real model. Returns the notebook."""
    path = REPO / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    text = path.read_text()
    for directive in SIM_ONLY:
        assert directive not in text
    return nb


def kernel_env(state: Path, **settings: str) -> dict[str, str]:
    """The kernel's environment: ``settings`` on top of a clean one, files under ``state``."""
    env = on_repo_path(without_settings())
    env["LLM_MAGICS_CACHE_PATH"] = str(state / "cache.sqlite")
    env["LLM_MAGICS_JOBSTORE_PATH"] = str(state / "jobs.sqlite")
    env["LLM_MAGICS_HISTORY_PATH"] = str(state / "history.sqlite")
    env.update(settings)
    return env


def execute(name: str, state: Path, *, timeout: int = 120, **settings: str) -> Any:
    """Run ``notebooks/<name>`` top to bottom in a fresh ``python3`` kernel; return it run."""
    return run(nbformat.read(REPO / "notebooks" / name, as_version=4), state, timeout=timeout,
               **settings)


def run(nb: Any, state: Path, *, timeout: int = 120, **settings: str) -> Any:
    """Run the notebook ``nb`` (e.g. built with ``nbformat.v4``) in a fresh kernel; return it."""
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(state)}})
    client.execute(env=kernel_env(state, **settings), cwd=str(state))
    return nb


def code_cell(nb: Any, starts_with: str) -> Any:
    """The one code cell whose source starts with ``starts_with``."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(starts_with)]
    return cell


def by_tag(nb: Any) -> dict[str | None, Any]:
    """Code cells by their first tag (``None`` for untagged ones)."""
    return {c.metadata.get("tags", [None])[0]: c for c in nb.cells if c.cell_type == "code"}


def failed_cells(nb: Any) -> list[str]:
    """The source of every code cell that raised or wrote to stderr."""
    return [c.source for c in nb.cells if c.cell_type == "code"
            and any(o.output_type == "error" or o.get("name") == "stderr" for o in c.outputs)]


def stdout(cell: Any) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def text_of(cell: Any) -> str:
    """Everything a reader sees: streams, plain-text results and displays, tracebacks."""
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
    return "".join(parts)
