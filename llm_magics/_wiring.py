"""Plug the parts into the core's registries; the one place that names them all.

The core finds backends, the default provider and the notebook progress view
through ``core.registry`` and imports none of them. This module, at the top of
the package, says what fills each slot. Every entry is a factory that imports
its part on first use, so ``import llm_magics`` stays light and an optional
extra that is not installed costs nothing until it is asked for.
"""

from __future__ import annotations

import sys
from typing import Any

from . import errors
from .core import registry

__all__ = ["install"]


def _in_process() -> Any:
    from .core.backends.inprocess import InProcessBackend

    return InProcessBackend()


def _batch() -> Any:
    from .core.backends.batch import BatchBackend

    return BatchBackend()


def _auto() -> Any:
    from .core.backends.auto import AutoBackend

    return AutoBackend()


def _queue() -> Any:
    try:
        from .queue.backend import QueueBackend
    except ImportError as err:
        raise errors.ConfigurationError(
            'mode="queue" needs the queue extra: pip install "llm-exec-magics[queue]", then '
            "start redis-server and `llm-magics worker`."
        ) from err
    return QueueBackend()


def _embedded_model() -> Any:
    from .local.provider import EmbeddedModel

    return EmbeddedModel()


def _progress_widget(tracker: Any, on_stop: Any) -> Any:
    from .jupyter.progress import show_widget

    return show_widget(tracker, on_stop)


def _cell_number() -> int | None:
    """The running cell's ``In [n]`` when IPython is already loaded (never imported here).

    Read from the input history, which every IPython stores before running a cell:
    ``execution_count`` is already ``n + 1`` during the cell on IPython 9, still ``n`` on 8.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return None
    inputs = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    return len(inputs) - 1 if inputs else getattr(shell, "execution_count", None)


def install() -> None:
    registry.register_backend("async", _in_process)
    registry.register_backend("batch", _batch)
    registry.register_backend("queue", _queue)
    registry.register_backend("auto", _auto)
    registry.register_default_provider(_embedded_model)
    registry.register_notebook_display(_progress_widget)
    registry.register_cell_counter(_cell_number)
