"""The Batch API lifecycle behind ``/v1/batches``, compressed in time (routes: batch_routes).

A batch moves ``validating -> in_progress -> finalizing -> completed`` on a
background task, each state lasting ``batch_step_s`` real seconds, or ends
``failed`` (input rejected, ``errors.data`` says which line), ``expired``
(completion window passed, or ``batch_expire_after_fraction`` of the lines
done) or ``cancelling -> cancelled``. Output and error files use the real JSONL
formats, and every line is answered by the same function as the sync endpoint,
so a batch result equals the sync call for the same body. A batch tracker or
``job.wait().results()`` can therefore be tested end to end in seconds.

Files and batches live in memory: the simulator is a test double, not a store.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..openai_shapes import OpenAIError, dumps, not_found
from .chat import complete_once

if TYPE_CHECKING:
    from .state import SimState

SUPPORTED_ENDPOINTS = ("/v1/chat/completions",)
FILE_PURPOSES = {"batch", "fine-tune", "assistants", "vision", "user_data", "evals"}
WINDOW_S = {"24h": 86_400}
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."
TERMINAL = {"completed", "failed", "expired", "cancelled"}


def _hex() -> str:
    return uuid.uuid4().hex[:24]


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def to_obj(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }


@dataclass
class BatchLine:
    custom_id: str
    body: Any


@dataclass
class Batch:
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
    deadline: float = math.inf
    """Real-time end of the (compressed) window; ``expires_at`` is its rounded public face."""
    cancel_requested: bool = False
    task: asyncio.Task[None] | None = None

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


def _line_error(code: str, message: str, line: int | None, param: str | None = None) -> dict:
    return {"code": code, "message": message, "param": param, "line": line}


def validate_input(content: bytes, endpoint: str) -> tuple[list[BatchLine], list[dict]]:
    """Parse the JSONL input; errors use OpenAI's codes and 1-based line numbers."""
    lines: list[BatchLine] = []
    errors: list[dict] = []
    seen: set[str] = set()
    raw_lines = content.decode("utf-8", "replace").splitlines()
    if not any(raw.strip() for raw in raw_lines):
        return [], [_line_error("empty_file", "The batch input file is empty.", None)]
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            errors.append(_line_error(
                "invalid_json_line", "This line is not parseable as valid JSON.", number))
            continue
        if not isinstance(item, dict):
            errors.append(_line_error(
                "invalid_json_line", "Each line must be a JSON object.", number))
            continue
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            errors.append(_line_error(
                "missing_required_parameter", "Missing required parameter: 'custom_id'.",
                number, "custom_id"))
            continue
        if custom_id in seen:
            errors.append(_line_error(
                "duplicate_custom_id",
                "The custom_id for this request is a duplicate of another request. The "
                "custom_id parameter must be unique for each request in a batch.",
                number, "custom_id"))
            continue
        seen.add(custom_id)
        if item.get("method") != "POST":
            errors.append(_line_error(
                "invalid_method", "The method for this request must be 'POST'.", number,
                "method"))
            continue
        if item.get("url") != endpoint:
            errors.append(_line_error(
                "invalid_url",
                "The URL provided for this request does not match the batch endpoint.",
                number, "url"))
            continue
        if not isinstance(item.get("body"), dict):
            errors.append(_line_error(
                "missing_required_parameter", "Missing required parameter: 'body'.", number,
                "body"))
            continue
        lines.append(BatchLine(custom_id, item["body"]))
    return lines, errors


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(dumps(r) + b"\n" for r in records)


class BatchStore:
    """In-memory files and batches plus the tasks that drive each batch's lifecycle."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, Batch] = {}

    # ---------------------------------------------------------------- files

    def add_file(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        stored = StoredFile(f"file-{_hex()}", filename, purpose, content)
        self.files[stored.id] = stored
        return stored

    def get_file(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise not_found(f"No such File object: {file_id}", param="id")
        return stored

    def get_batch(self, batch_id: str) -> Batch:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise not_found(f"No batch found with id '{batch_id}'.", param="batch_id")
        return batch

    # ---------------------------------------------------------------- lifecycle

    def create_batch(
        self, input_file_id: str, endpoint: str, window: str, metadata: dict | None
    ) -> Batch:
        window_s = WINDOW_S[window] / self.state.config.batch_time_scale
        real_now = time.time()
        now = int(real_now)
        batch = Batch(
            id=f"batch_{_hex()}",
            input_file_id=input_file_id,
            endpoint=endpoint,
            completion_window=window,
            metadata=metadata,
            created_at=now,
            expires_at=now + max(1, math.ceil(window_s)),
            deadline=real_now + window_s,
        )
        self.batches[batch.id] = batch
        self.state.stats.batch_counts["created"] += 1
        batch.task = asyncio.get_running_loop().create_task(self._run(batch))
        return batch

    def cancel(self, batch: Batch) -> None:
        if batch.status in TERMINAL or batch.status == "cancelling":
            if batch.status in TERMINAL:
                raise OpenAIError(
                    409, f"Cannot cancel a batch with status '{batch.status}'.",
                    code="batch_not_cancellable")
            return
        batch.cancel_requested = True
        batch.status = "cancelling"
        batch.timestamps["cancelling_at"] = int(time.time())

    def _set(self, batch: Batch, status: str) -> None:
        if batch.status == "cancelling" and status not in TERMINAL:
            return  # a cancel wins over the normal progression
        batch.status = status
        batch.timestamps[f"{status}_at"] = int(time.time())
        if status in TERMINAL:
            self.state.stats.batch_counts[status] += 1

    async def _step(self) -> None:
        await asyncio.sleep(self.state.config.batch_step_s)

    async def _run(self, batch: Batch) -> None:
        """Drive one batch to a terminal state; never raises into the event loop."""
        try:
            await self._lifecycle(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a simulator bug must still end the batch visibly
            batch.errors = [_line_error("server_error", f"simulator error: {exc!r}", None)]
            self._set(batch, "failed")

    async def _lifecycle(self, batch: Batch) -> None:
        await self._step()
        if batch.cancel_requested:
            await self._finish_cancel(batch, [], [])
            return
        stored = self.files.get(batch.input_file_id)
        lines, errors = validate_input(stored.content if stored else b"", batch.endpoint)
        if errors:
            batch.errors = errors
            self._set(batch, "failed")
            return
        batch.total = len(lines)
        self._set(batch, "in_progress")
        await self._step()

        outputs: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        config = self.state.config
        fraction = config.batch_expire_after_fraction
        expire_at_line = None if fraction is None else math.floor(fraction * len(lines))
        done = 0
        expired = False
        for done, line in enumerate(lines):
            if batch.cancel_requested:
                break
            if (expire_at_line is not None and done >= expire_at_line) or (
                time.time() >= batch.deadline
            ):
                expired = True
                break
            self._answer_line(batch, line, outputs, failures)
            self.state.stats.batch_counts["lines"] += 1
            if config.batch_line_s:
                await asyncio.sleep(config.batch_line_s)
            elif done % 200 == 199:
                await asyncio.sleep(0)
        else:
            done = len(lines)

        rest = lines[done:]
        if batch.cancel_requested:
            await self._finish_cancel(batch, outputs, failures, rest)
            return
        if expired:
            failures.extend(self._unrun(line, "batch_expired", EXPIRED_MESSAGE) for line in rest)
            batch.failed += len(rest)
            self._write_files(batch, outputs, failures)
            self._set(batch, "expired")
            return
        self._set(batch, "finalizing")
        await self._step()
        self._write_files(batch, outputs, failures)
        if batch.cancel_requested:
            self._set(batch, "cancelled")
            return
        self._set(batch, "completed")

    async def _finish_cancel(
        self,
        batch: Batch,
        outputs: list[dict[str, Any]],
        failures: list[dict[str, Any]],
        rest: list[BatchLine] | None = None,
    ) -> None:
        await self._step()
        rest = rest or []
        failures.extend(self._unrun(line, "batch_cancelled", CANCELLED_MESSAGE) for line in rest)
        batch.failed += len(rest)
        self._write_files(batch, outputs, failures)
        self._set(batch, "cancelled")

    def _answer_line(
        self,
        batch: Batch,
        line: BatchLine,
        outputs: list[dict[str, Any]],
        failures: list[dict[str, Any]],
    ) -> None:
        status, body = complete_once(line.body, self.state.config)
        record = {
            "id": f"batch_req_{_hex()}",
            "custom_id": line.custom_id,
            "response": {"status_code": status, "request_id": f"req_{_hex()}", "body": body},
            "error": None,
        }
        if status < 400:
            outputs.append(record)
            batch.completed += 1
        else:
            failures.append(record)
            batch.failed += 1

    @staticmethod
    def _unrun(line: BatchLine, code: str, message: str) -> dict[str, Any]:
        return {
            "id": f"batch_req_{_hex()}",
            "custom_id": line.custom_id,
            "response": None,
            "error": {"code": code, "message": message},
        }

    def _write_files(
        self, batch: Batch, outputs: list[dict[str, Any]], failures: list[dict[str, Any]]
    ) -> None:
        if outputs:
            batch.output_file_id = self.add_file(
                f"{batch.id}_output.jsonl", "batch_output", _jsonl(outputs)).id
        if failures:
            batch.error_file_id = self.add_file(
                f"{batch.id}_error.jsonl", "batch_output", _jsonl(failures)).id

    async def close(self) -> None:
        """Stop lifecycle tasks on shutdown so the loop can exit promptly."""
        tasks = [b.task for b in self.batches.values() if b.task and not b.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
