"""The checkout's root, and environments for child processes that must import it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["REPO", "heavy_imports", "on_repo_path", "without_settings"]

HEAVY = ("pandas", "IPython", "ipywidgets", "fastapi")
"""Packages a light import must not load (a script or a worker pays for each)."""

REPO = Path(__file__).resolve().parents[2]


def on_repo_path(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with this checkout first on ``PYTHONPATH``, so a child imports this very code."""
    out = dict(env)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), out.get("PYTHONPATH")) if p)
    return out


def without_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default ``os.environ``) minus ``LLM_MAGICS_*`` and ``OPENAI_*``.

    A child given this sees only the settings its test adds, never the runner's.
    """
    source = os.environ if env is None else env
    return {k: v for k, v in source.items() if not k.startswith(("LLM_MAGICS_", "OPENAI_"))}


def heavy_imports(module: str) -> list[str]:
    """Which of ``HEAVY`` a fresh interpreter has loaded after ``import module``."""
    code = (f"import json, sys, {module}; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
