"""Drive the Batch API with the official SDK: JSONL lines, upload, create, poll, read back."""

from __future__ import annotations

import json
import time
from typing import Any

from openai import OpenAI

__all__ = ["TERMINAL", "jsonl", "line", "start_batch", "upload", "wait"]

TERMINAL = {"completed", "failed", "expired", "cancelled"}


def line(custom_id: str, body: dict[str, Any], url: str = "/v1/chat/completions") -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body})


def upload(client: OpenAI, lines: list[str]) -> str:
    data = ("\n".join(lines) + "\n").encode()
    return client.files.create(file=("input.jsonl", data), purpose="batch").id


def start_batch(client: OpenAI, lines: list[str]) -> str:
    file_id = upload(client, lines)
    return client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                 completion_window="24h").id


def wait(client: OpenAI, batch_id: str, timeout: float = 30.0) -> tuple[Any, list[str]]:
    """Poll until terminal; returns the final batch and every status seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if not seen or seen[-1] != batch.status:
            seen.append(batch.status)
        if batch.status in TERMINAL:
            return batch, seen
        assert time.monotonic() < deadline, f"batch stuck in {seen}"
        time.sleep(0.01)


def passed_through(seen: list[str], path: list[str]) -> bool:
    """Whether the polled statuses follow ``path`` in order and end where it ends.

    A poll can miss a short state on a loaded machine, so ``seen`` may skip steps
    of ``path``; it may never go backwards, leave the path or stop short.
    """
    steps = iter(path)
    return bool(seen) and seen[-1] == path[-1] and all(status in steps for status in seen)


def jsonl(client: OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    text = client.files.content(file_id).text
    return [json.loads(row) for row in text.splitlines() if row.strip()]
