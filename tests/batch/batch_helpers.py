"""Constants and helpers the batch tests share (a module, so tests can import it)."""

from __future__ import annotations

from functools import partial

from tests.support import sim

API_KEY = "sk-test-batch-secret-0123456789"
MODEL = "gpt-4o-mini"  # priced, so cost and saving are real numbers
POLL = 0.02
STEP_S = 0.02


chat_body = partial(sim.chat_body, model=MODEL)


def batch_lines(simulator: sim.Simulator) -> int:
    """Request lines the simulator has answered through the Batch API so far."""
    return simulator.stats["batches"].get("lines", 0)
