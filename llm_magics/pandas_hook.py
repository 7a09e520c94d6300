"""Register ``df.llm`` when pandas is imported, without importing pandas ourselves.

``import llm_magics`` must stay light and must not drag pandas in for a user
who never touches it; yet ``df.llm`` should simply work in whichever order the
two are imported. ``install()`` registers at once if pandas is already loaded,
otherwise it puts a small finder on ``sys.meta_path`` that wraps pandas'
loader: when pandas has finished executing, the accessor is registered and the
finder removes itself. Nothing else is intercepted.

    >>> from llm_magics import pandas_hook
    >>> pandas_hook.install()       # then: import pandas as pd; pd.DataFrame().llm
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
import threading
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

__all__ = ["install", "uninstall", "TARGET"]

TARGET = "pandas"
_log = logging.getLogger(__name__)
_lock = threading.Lock()


def _register() -> None:
    """Register, but never let a failure here break ``import pandas`` for the user."""
    face = sys.modules.get("llm_magics.pandas")
    if face is not None and getattr(face.__spec__, "_initializing", False):
        return  # pandas was imported *by* llm_magics.pandas, which registers when it finishes
    try:
        from .pandas import register

        register()
    except Exception:  # noqa: BLE001 - an accessor problem must not break pandas
        _log.warning("llm_magics could not register the df.llm accessor", exc_info=True)


class _RegisteringLoader(importlib.abc.Loader):
    """pandas' own loader, plus one step after it has executed: register the accessor."""

    def __init__(self, loader: Any, finder: _PandasFinder) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # pandas should see its real loader (importlib.resources, reload, pickling use it).
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._finder.remove()
        _register()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _PandasFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: asks the finders after it for pandas and wraps the loader."""

    def __init__(self) -> None:
        self._busy = False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if fullname != TARGET or self._busy:
            return None
        self._busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy = False
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RegisteringLoader(spec.loader, self)
        return spec

    def remove(self) -> None:
        with _lock:
            if self in sys.meta_path:
                sys.meta_path.remove(self)


def _loaded() -> bool:
    module = sys.modules.get(TARGET)
    if module is None:
        return False
    spec = getattr(module, "__spec__", None)
    return not getattr(spec, "_initializing", False)


def install() -> None:
    """Make ``df.llm`` available now if pandas is loaded, else as soon as it is (idempotent)."""
    if _loaded():
        _register()
        return
    with _lock:
        if not any(isinstance(f, _PandasFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _PandasFinder())


def uninstall() -> None:
    """Remove a pending hook (tests); a registered accessor stays."""
    with _lock:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _PandasFinder)]
