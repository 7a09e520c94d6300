"""``%load_ext llm_magics``: register the magics and the stream hook.

Loading stays fast and light: nothing here imports the OpenAI SDK, ipywidgets,
markdown-it or pandas. The SDK loads on the first call, and ``%llm_batch`` is a
stub that loads ``batch_magic`` (and the batch core) the first time it is used.
The df.llm accessor is the package's, not this face's: ``llm_magics``'s own
``load_ipython_extension`` installs it beside these magics.
IPython config (``c.LLMMagics.model = ...``) is applied to the core settings
as the magics are created.
"""

from __future__ import annotations

import sys
from typing import Any

from .magics import LLMMagics, loaded

__all__ = ["load", "unload", "magics_for"]

_MAGIC_NAMES = {
    "cell": ("llm", "llm_stream"),
    "line": ("llm", "llm_stream", "llm_config", "llm_chat", "llm_history"),  # %llm --help
}
def magics_for(shell: Any) -> LLMMagics | None:
    """The LLMMagics instance loaded into ``shell`` (tests and tools), if any."""
    return loaded.get(id(shell))


def load(shell: Any) -> LLMMagics:
    if id(shell) in loaded:
        return loaded[id(shell)]
    magics = LLMMagics(shell=shell)  # joins shell.configurables: %config LLMMagics works
    magics.apply_config()
    shell.register_magics(magics)
    shell.events.register("pre_run_cell", magics.pending.before_cell)
    shell.ast_transformers.append(magics.gate)
    shell.register_magic_function(_batch_stub(shell), magic_kind="line", magic_name="llm_batch")
    shell.register_magic_function(_history_stub, magic_kind="line", magic_name="llm_history")
    loaded[id(shell)] = magics
    return magics


def unload(shell: Any) -> None:
    magics = loaded.pop(id(shell), None)
    if magics is None:
        return
    magics.pending.cancel_all()
    magics.pending.settle_all()
    shell.events.unregister("pre_run_cell", magics.pending.before_cell)
    if magics.gate in shell.ast_transformers:
        shell.ast_transformers.remove(magics.gate)
    if magics in shell.configurables:
        shell.configurables.remove(magics)
    for kind, names in _MAGIC_NAMES.items():
        for name in names:
            shell.magics_manager.magics[kind].pop(name, None)
    batch = sys.modules.get(f"{__package__}.batch_magic")
    if batch is not None:
        batch.unregister(shell)
    shell.magics_manager.magics["line"].pop("llm_batch", None)


def _history_stub(line: str) -> Any:
    """%llm_history [--since 1h] [--by cell|model|day|mode|face] [--text] (loads on first use)."""
    from .history_magic import llm_history

    return llm_history(line)


def _batch_stub(shell: Any) -> Any:
    def llm_batch(line: str) -> Any:
        """%llm_batch submit|status|results|retry|cancel|list (loads on first use)."""
        from . import batch_magic

        batch_magic.register(shell)  # replaces this stub with the real magics
        real = shell.magics_manager.magics["line"]["llm_batch"]
        return real(line)  # the line is already expanded: call it, do not re-run it

    return llm_batch
