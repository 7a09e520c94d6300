"""The checkout's root, and environments for child processes that must import it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["REPO", "on_repo_path", "without_settings"]

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
