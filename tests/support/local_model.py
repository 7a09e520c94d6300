"""Whether the embedded local model (llama.cpp + the packaged SmolLM2) can run here."""

from __future__ import annotations

from llm_magics import local
from llm_magics.local.model import check_server_installed

__all__ = ["missing_reason"]


def missing_reason() -> str | None:
    """Why the local model cannot start (what to install), or None when it can."""
    try:
        local.find_model_path()
        check_server_installed()
    except local.LocalModelMissingError as err:
        return str(err)
    return None
