"""The README's first command, as a new user runs it: the quickstart on the local model."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat


def test_quickstart_command_runs_on_the_local_model(tmp_path, session_state_dir, server):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_MAGICS_", "OPENAI_"))}
    env["LLM_MAGICS_STATE_DIR"] = str(session_state_dir)  # reuse the session's server
    env["LLM_MAGICS_CACHE_PATH"] = str(tmp_path / "cache.sqlite")
    proc = subprocess.run(
        [sys.executable, "-m", "llm_magics.cli", "quickstart", "--out-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HTML copy:" in proc.stdout
    nb = nbformat.read(tmp_path / "quickstart.executed.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not [o for o in c.outputs if o.output_type == "error"] for c in code)
    answers = [c for c in code if c.source.startswith("%%llm")]
    assert answers and all(c.outputs for c in answers)  # the model's answers are in the file
    html = (tmp_path / "quickstart.html").read_text()
    assert "<html" in html
