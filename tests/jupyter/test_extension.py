"""``%load_ext llm_magics`` is fast, imports nothing heavy, and can be reloaded.

Import state is process state, so these run in a fresh interpreter each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SHELL = """
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
"""


def run_python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", SHELL + textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_loading_imports_nothing_heavy_and_reloads_cleanly():
    out = json.loads(run_python("""
        import json, sys
        import llm_magics
        from llm_magics.jupyter.extension import magics_for
        ip.run_line_magic("load_ext", "llm_magics")
        heavy = [m for m in ("openai", "pandas", "ipywidgets", "markdown_it", "nh3",
                             "llm_magics.jupyter.batch_magic",
                             "llm_magics.jupyter.history_magic") if m in sys.modules]
        magics = ip.magics_manager.magics
        names = {"cell": sorted(m for m in magics["cell"] if m.startswith("llm")),
                 "line": sorted(m for m in magics["line"] if m.startswith("llm"))}
        first = magics_for(ip)
        ip.run_line_magic("reload_ext", "llm_magics")
        hooks = [f for f in ip.events.callbacks["pre_run_cell"]
                 if type(getattr(f, "__self__", None)).__name__ == "PendingStreams"]
        print(json.dumps({
            "heavy": heavy, **names, "new": magics_for(ip) is not first,
            "hooks": len(hooks),
            "gates": sum(type(t).__name__ == "InterruptGate" for t in ip.ast_transformers),
            "configurables": sum(type(c).__name__ == "LLMMagics" for c in ip.configurables),
        }))
    """))
    assert out["heavy"] == []
    assert out["cell"] == ["llm", "llm_stream"]
    assert out["line"] == ["llm", "llm_batch", "llm_chat", "llm_config", "llm_history",
                           "llm_stream"]
    assert (out["new"], out["hooks"], out["gates"], out["configurables"]) == (True, 1, 1, 1)


def test_the_dataframe_accessor_appears_when_pandas_is_imported_later():
    out = run_python("""
        ip.run_line_magic("load_ext", "llm_magics")
        import sys
        assert "pandas" not in sys.modules
        ip.run_cell("import pandas as pd; has = hasattr(pd.DataFrame({'a': [1]}), 'llm')")
        print(ip.user_ns["has"])
    """)
    assert out == "True"


def test_the_accessor_is_registered_at_once_when_pandas_is_already_imported():
    out = run_python("""
        import pandas as pd
        ip.run_line_magic("load_ext", "llm_magics")
        print(hasattr(pd.Series([1]), "llm"))
    """)
    assert out == "True"


def test_llm_batch_loads_on_first_use_and_then_is_the_real_magic(tmp_path):
    out = run_python(f"""
        import os
        os.environ["LLM_MAGICS_JOBSTORE_PATH"] = {str(tmp_path / "jobs.sqlite")!r}
        ip.run_line_magic("load_ext", "llm_magics")
        ip.run_cell("%llm_batch list")
        magic = ip.magics_manager.magics["line"]["llm_batch"]
        print(type(getattr(magic, "__self__", None)).__name__)
    """)
    assert out == "BatchMagics"
