"""``llm-magics quickstart``: execute the quickstart notebook and write it back with HTML.

It runs on whatever is configured: a hosted API when ``OPENAI_API_KEY`` is set,
otherwise the embedded local model, which starts on the first call. The
executed notebook and an HTML copy are written to ``--out-dir`` (default
``./llm-magics-quickstart``), and their paths are printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main", "find_notebook", "execute_notebook"]

NOTEBOOK = Path("notebooks") / "quickstart.ipynb"


def find_notebook(name: Path = NOTEBOOK) -> Path:
    """The notebook in the working directory, else in the source checkout of this package."""
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = root / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{name} not found in {Path.cwd()} or next to the package; run this from a clone "
        "of the llm-magics repository."
    )


def execute_notebook(path: Path, out_dir: Path, *, timeout: int = 600) -> tuple[Path, Path]:
    """Run every cell in a fresh kernel; write the executed notebook and its HTML."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{path.stem}.executed.ipynb"
    nbformat.write(nb, executed)
    html, _ = HTMLExporter().from_notebook_node(nb)
    html_path = out_dir / f"{path.stem}.html"
    html_path.write_text(html, encoding="utf-8")
    return executed, html_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-magics quickstart", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebook", type=Path, default=None, help="notebook to execute")
    parser.add_argument("--out-dir", type=Path, default=Path("llm-magics-quickstart"))
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    notebook = args.notebook or find_notebook()
    print(f"llm-magics quickstart: executing {notebook} ...", flush=True)
    started = time.monotonic()
    try:
        executed, html = execute_notebook(notebook, args.out_dir, timeout=args.timeout)
    except Exception as err:  # noqa: BLE001 - one clear line, not a kernel traceback wall
        print(f"llm-magics quickstart failed: {type(err).__name__}: {str(err)[:2000]}",
              file=sys.stderr)
        return 1
    print(f"done in {time.monotonic() - started:.1f}s")
    print(f"executed notebook: {executed.resolve()}")
    print(f"HTML copy:         {html.resolve()}")
    return 0
