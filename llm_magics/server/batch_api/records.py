"""The Files and Batch API objects and JSONL records, exactly as OpenAI serialises them.

The simulator keeps these in memory and the gateway in SQLite, but both hand
the SDK the same ``file`` and ``batch`` objects and write output/error lines
in the same shape, so ``client.batches.retrieve`` and the library's batch
reader cannot tell the servers apart.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..openai_shapes import dumps

__all__ = [
    "ACTIVE",
    "CANCELLED_MESSAGE",
    "EXPIRED_MESSAGE",
    "FILE_PURPOSES",
    "SUPPORTED_ENDPOINTS",
    "TERMINAL",
    "WINDOW_S",
    "ServedBatch",
    "FileRecord",
    "jsonl",
    "new_hex",
    "output_record",
    "unrun_record",
]

SUPPORTED_ENDPOINTS = ("/v1/chat/completions",)
FILE_PURPOSES = {"batch", "fine-tune", "assistants", "vision", "user_data", "evals"}
WINDOW_S = {"24h": 86_400}
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")


def new_hex() -> str:
    return uuid.uuid4().hex[:24]


@dataclass
class FileRecord:
    """One stored file's metadata; its bytes live wherever the server keeps them."""

    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int = field(default_factory=lambda: int(time.time()))

    def to_obj(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }


@dataclass
class ServedBatch:
    """A batch's public state; ``to_obj`` is the ``batch`` object the SDK parses."""

    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Any] | None
    created_at: int
    expires_at: int
    status: str = "validating"
    errors: list[dict[str, Any]] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    timestamps: dict[str, int | None] = field(default_factory=dict)
    deadline: float = 0.0
    """Real end of the window (epoch seconds); ``expires_at`` is its whole-second public face."""

    @classmethod
    def new(cls, input_file_id: str, endpoint: str, window: str,
            metadata: dict[str, Any] | None, window_s: float) -> ServedBatch:
        real_now = time.time()
        now = int(real_now)
        return cls(
            id=f"batch_{new_hex()}",
            input_file_id=input_file_id,
            endpoint=endpoint,
            completion_window=window,
            metadata=metadata,
            created_at=now,
            expires_at=now + max(1, math.ceil(window_s)),
            deadline=real_now + window_s,
        )

    def stamp(self, status: str) -> None:
        """Move to ``status`` and record when (``<status>_at``)."""
        self.status = status
        self.timestamps[f"{status}_at"] = int(time.time())

    def to_obj(self) -> dict[str, Any]:
        stamp = self.timestamps.get
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": stamp("in_progress_at"),
            "expires_at": self.expires_at,
            "finalizing_at": stamp("finalizing_at"),
            "completed_at": stamp("completed_at"),
            "failed_at": stamp("failed_at"),
            "expired_at": stamp("expired_at"),
            "cancelling_at": stamp("cancelling_at"),
            "cancelled_at": stamp("cancelled_at"),
            "request_counts": {
                "total": self.total,
                "completed": self.completed,
                "failed": self.failed,
            },
            "metadata": self.metadata,
        }

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ServedBatch:
        return cls(**json.loads(text))


def output_record(custom_id: str, status_code: int, body: Any,
                  request_id: str | None = None) -> dict[str, Any]:
    """One line of an output (status < 400) or error (status >= 400) file for a line that ran."""
    return {
        "id": f"batch_req_{new_hex()}",
        "custom_id": custom_id,
        "response": {
            "status_code": status_code,
            "request_id": request_id or f"req_{new_hex()}",
            "body": body,
        },
        "error": None,
    }


def unrun_record(custom_id: str, code: str, message: str) -> dict[str, Any]:
    """One error-file line for a line that never ran (``batch_expired``, ``batch_cancelled``)."""
    return {
        "id": f"batch_req_{new_hex()}",
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }


def jsonl(records: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(dumps(r) + b"\n" for r in records)
