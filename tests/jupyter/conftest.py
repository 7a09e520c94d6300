"""Magics driven through a real IPython shell, against the shared simulator (``sim``).

The simulator's request counter is the witness for "no call was made"; the
shell is IPython's test shell with ``%load_ext llm_magics`` applied once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.testing.globalipapp import get_ipython
from jupyter_helpers import API_KEY

import llm_magics
from llm_magics.jupyter.extension import magics_for
from llm_magics.jupyter.magics import LLMMagics
from tests.support.sim import Simulator


@pytest.fixture(scope="session")
def shell() -> Any:
    ip = get_ipython()
    ip.run_line_magic("load_ext", "llm_magics")
    return ip


@pytest.fixture
def ip(shell: Any, sim: Simulator) -> Iterator[Any]:
    """The shell, pointed at the simulator, with no chat, answer or pending stream left over."""
    magics = magics_for(shell)
    llm_magics.configure(base_url=sim.base_url, api_key=API_KEY)
    magics.widgets = "auto"
    magics.chat.reset()
    shell.user_ns.pop("_llm", None)
    yield shell
    magics.pending.cancel_all()
    magics.pending.settle_all()
    magics.widgets = "auto"


@pytest.fixture
def magics(ip: Any) -> LLMMagics:
    return magics_for(ip)
