"""Lint and the layer contract run with the suite, so the README's one command checks them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import heavy_imports

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def test_ruff_is_clean():
    proc = subprocess.run([_tool("ruff"), "check", "llm_magics", "tests", "benchmarks", "tools"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_core_imports_no_face_ipython_widgets_or_pandas():
    proc = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_developer_tooling_stays_out_of_the_package():
    """Test harnesses, the docs hook and the benchmarks live beside the package, not in it."""
    for name in ("docgen", "bench", "server/process", "server/threaded", "server/sim/runner",
                 "server/gateway/runner", "queue/procs"):
        assert not (ROOT / "llm_magics" / f"{name}.py").exists(), name
    for path in (ROOT / "llm_magics").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) (tests|tools|benchmarks)\b", text, re.M), path


def test_import_is_light():
    assert heavy_imports("llm_magics") == []


def test_public_api_is_pinned():
    import llm_magics

    assert sorted(llm_magics.__all__) == sorted([
        "complete", "acomplete", "stream", "astream", "map", "amap", "plan", "configure", "status",
        "history", "Response", "Usage", "Settings", "CallStats", "TextStream", "AsyncTextStream",
        "LLMError", "errors", "batch", "load_ipython_extension", "unload_ipython_extension",
    ])
    for name in llm_magics.__all__:
        assert hasattr(llm_magics, name), name


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def test_modules_and_functions_stay_small():
    import ast

    too_long = []
    for path in sorted((ROOT / "llm_magics").rglob("*.py")):
        source = path.read_text()
        where = path.relative_to(ROOT)
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{where}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{where}:{node.lineno} {node.name}(): {lines} lines")
    assert not too_long, "split these (one job each):\n" + "\n".join(too_long)


def test_no_import_cycles_even_type_only_or_inside_functions():
    import grimp

    graph = grimp.build_graph("llm_magics")  # every import statement, wherever it stands
    cycles = [(module, imported) for module in sorted(graph.modules)
              for imported in graph.find_modules_directly_imported_by(module)
              if graph.chain_exists(importer=imported, imported=module)]
    assert cycles == [], f"modules that import each other, directly or around a circle: {cycles}"
