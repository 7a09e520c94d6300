"""Constants and helpers the batch tests share (a module, so tests can import it)."""

from __future__ import annotations

from typing import Any

from llm_magics.server.sim import Simulator

API_KEY = "sk-test-batch-secret-0123456789"
MODEL = "gpt-4o-mini"  # priced, so cost and saving are real numbers
POLL = 0.02
STEP_S = 0.02


def chat_body(prompt: str, *, system: str | None = None, model: str = MODEL,
              **params: Any) -> dict[str, Any]:
    """The body the library sends for ``prompt`` (what ``expected_answer`` needs)."""
    messages = [{"role": "user", "content": prompt}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return {"model": model, "messages": messages, **params}


def batch_lines(sim: Simulator) -> int:
    """Request lines the simulator has answered through the Batch API so far."""
    return sim.stats["batches"].get("lines", 0)
