"""llm-magics: run LLM calls from Jupyter and scripts on one resilient core.

    >>> import llm_magics
    >>> llm_magics.complete("Say hi").text                          # doctest: +SKIP
    >>> llm_magics.map(["a", "b"], concurrency=32, rpm=500)         # doctest: +SKIP

In a notebook: ``%load_ext llm_magics`` for ``%%llm``, ``%%llm_stream``,
``%llm_batch`` and the ``df.llm`` accessor.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily below, so `python -m llm_magics.server.sim` starts fast
    from . import batch, errors
    from .core.call_stats import CallStats
    from .core.calls import (
        AsyncTextStream,
        TextStream,
        acomplete,
        amap,
        astream,
        complete,
        map,
        plan,
        status,
        stream,
    )
    from .core.settings import Settings, configure
    from .core.types import Response, Usage
    from .errors import LLMError
    from .pandas.history import history

_LAZY = {
    "errors": ("llm_magics.errors", None),
    "batch": ("llm_magics.batch", None),
    "LLMError": ("llm_magics.errors", "LLMError"),
    "CallStats": ("llm_magics.core.call_stats", "CallStats"),
    "history": ("llm_magics.pandas.history", "history"),
    "Settings": ("llm_magics.core.settings", "Settings"),
    "configure": ("llm_magics.core.settings", "configure"),
    "Response": ("llm_magics.core.types", "Response"),
    "Usage": ("llm_magics.core.types", "Usage"),
    **{name: ("llm_magics.core.calls", name) for name in (
        "complete", "acomplete", "stream", "astream", "map", "amap", "plan", "status",
        "TextStream", "AsyncTextStream")},
}


def _install() -> None:
    """Fill the core's registries, and ``df.llm`` on import without importing pandas."""
    from . import _wiring, pandas_hook

    _wiring.install()
    pandas_hook.install()


_install()


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'llm_magics' has no attribute {name!r}") from None
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != "pandas":
            raise
        raise ImportError(f"llm_magics.{name} needs pandas: pip install "
                          '"llm-exec-magics[pandas]" (`llm-magics history --json` reads the call '
                          "log without it).") from err
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    "complete",
    "acomplete",
    "stream",
    "astream",
    "map",
    "amap",
    "plan",
    "configure",
    "status",
    "history",
    "Response",
    "Usage",
    "Settings",
    "CallStats",
    "TextStream",
    "AsyncTextStream",
    "LLMError",
    "errors",
    "batch",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython):  # noqa: ANN001 - IPython's hook signature
    """``%load_ext llm_magics``: imported lazily so ``import llm_magics`` stays light."""
    from . import pandas_hook
    from .jupyter.extension import load

    load(ipython)
    pandas_hook.install()


def unload_ipython_extension(ipython):  # noqa: ANN001
    from . import pandas_hook
    from .jupyter.extension import unload

    unload(ipython)
    pandas_hook.uninstall()
