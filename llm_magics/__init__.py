"""llm-magics: run LLM calls from Jupyter and scripts on one resilient core.

    >>> import llm_magics
    >>> llm_magics.complete("Say hi").text                          # doctest: +SKIP
    >>> llm_magics.map(["a", "b"], concurrency=32, rpm=500)         # doctest: +SKIP

In a notebook: ``%load_ext llm_magics`` for ``%%llm``, ``%%llm_stream``,
``%llm_batch`` and the ``df.llm`` accessor.
"""

from __future__ import annotations

from . import errors
from .core.calls import (
    AsyncTextStream,
    TextStream,
    acomplete,
    amap,
    astream,
    complete,
    map,
    status,
    stream,
)
from .core.engine import CallStats
from .core.settings import Settings, configure
from .core.types import Response, Usage
from .errors import LLMError

__version__ = "0.1.0"

__all__ = [
    "complete",
    "acomplete",
    "stream",
    "astream",
    "map",
    "amap",
    "configure",
    "status",
    "Response",
    "Usage",
    "Settings",
    "CallStats",
    "TextStream",
    "AsyncTextStream",
    "LLMError",
    "errors",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython):  # noqa: ANN001 - IPython's hook signature
    """``%load_ext llm_magics``: imported lazily so ``import llm_magics`` stays light."""
    from .jupyter.extension import load

    load(ipython)


def unload_ipython_extension(ipython):  # noqa: ANN001
    from .jupyter.extension import unload

    unload(ipython)
