"""Small helpers the jupyter tests share (conftest holds the fixtures)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from IPython.utils.capture import capture_output

API_KEY = "sk-test-secret-key-123456"
MODEL = "sim-small"


def run(ip: Any, source: str) -> tuple[Any, Any]:
    """Run one cell; return IPython's ExecutionResult and what it printed/displayed."""
    with capture_output() as captured:
        result = ip.run_cell(source)
    return result, captured


def requests_seen(sim: Any) -> int:
    return sim.stats["chat_requests"]


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def interrupt_when(condition: Callable[[], bool], timeout: float = 5.0) -> threading.Thread:
    """Send SIGINT to this process once ``condition`` holds: what a kernel interrupt does."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread
