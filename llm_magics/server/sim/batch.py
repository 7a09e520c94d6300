"""The Batch API lifecycle behind ``/v1/batches``, compressed in time (routes: ``batch_api``).

A batch moves ``validating -> in_progress -> finalizing -> completed`` on a
background task, each state lasting ``batch_step_s`` real seconds, or ends
``failed`` (input rejected, ``errors.data`` says which line), ``expired``
(completion window passed, or ``batch_expire_after_fraction`` of the lines
done) or ``cancelling -> cancelled``. ``batch_stall_after_fraction`` makes a
batch that never completes: it stops after that share of its lines and waits
for a cancel (or its window), handing back what it answered either way.
Output and error files use the real JSONL formats, and every line is answered
by the same function as the sync endpoint, so a batch result equals the sync
call for the same body. A batch tracker or
``job.wait().results()`` can therefore be tested end to end in seconds.

Files and batches live in memory: the simulator is a test double, not a store.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, TypeVar

from starlette.responses import Response

from ..batch_api import (
    CANCELLED_MESSAGE,
    EXPIRED_MESSAGE,
    TERMINAL,
    WINDOW_S,
    BatchLine,
    FileRecord,
    ServedBatch,
    jsonl,
    line_error,
    new_hex,
    output_record,
    unrun_record,
    validate_input,
)
from ..openai_shapes import ErrorReply, not_found
from .chat import complete_once
from .config import SimConfig
from .stats import SimStats


class LiveSettings(Protocol):
    """What the store reads of the server's state on every step (``SimState`` has it)."""

    config: SimConfig
    stats: SimStats

T = TypeVar("T")

@dataclass
class StoredFile:
    record: FileRecord
    content: bytes


@dataclass
class RunningBatch:
    """A batch's public record plus what only the simulator's lifecycle needs."""

    record: ServedBatch
    cancel_requested: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


class _Table(dict[str, T]):
    """Stored objects by id, oldest first; an unknown id is OpenAI's 404."""

    def __init__(self, missing: str, param: str) -> None:
        super().__init__()
        self.missing, self.param = missing, param

    def find(self, key: str) -> T:
        found = self.get(key)
        if found is None:
            raise not_found(self.missing.format(id=key), param=self.param)
        return found

    def newest_first(self) -> list[T]:
        return list(reversed(self.values()))


class BatchStore:
    """In-memory files and batches plus the tasks that drive each batch's lifecycle.

    Implements the shared :class:`~llm_magics.server.batch_api.BatchBackend`.
    """

    max_file_bytes: int | None = None

    def __init__(self, state: LiveSettings) -> None:
        self.state = state
        self.stored: _Table[StoredFile] = _Table("No such File object: {id}", "id")
        self.running: _Table[RunningBatch] = _Table("No batch found with id '{id}'.", "batch_id")

    # ---------------------------------------------------------------- files

    async def add_file(self, filename: str, purpose: str, data: IO[bytes]) -> FileRecord:
        return self.put_file(filename, purpose, data.read())

    def put_file(self, filename: str, purpose: str, content: bytes) -> FileRecord:
        record = FileRecord(f"file-{new_hex()}", filename, purpose, len(content))
        self.stored[record.id] = StoredFile(record, content)
        if purpose != "batch_output":
            self.state.stats.files_uploaded += 1
        return record

    def files(self) -> list[FileRecord]:
        return [f.record for f in self.stored.newest_first()]

    def get_file(self, file_id: str) -> FileRecord:
        return self.stored.find(file_id).record

    async def file_content(self, file_id: str) -> Response:
        return Response(self.stored.find(file_id).content, media_type="application/octet-stream")

    def delete_file(self, file_id: str) -> None:
        self.stored.find(file_id)
        del self.stored[file_id]

    # ---------------------------------------------------------------- batches

    def batches(self) -> list[ServedBatch]:
        return [b.record for b in self.running.newest_first()]

    def get_batch(self, batch_id: str) -> ServedBatch:
        return self.running.find(batch_id).record

    def create_batch(self, input_file: FileRecord, endpoint: str, window: str,
                     metadata: dict[str, Any] | None) -> ServedBatch:
        window_s = WINDOW_S[window] / self.state.config.batch_time_scale
        record = ServedBatch.new(input_file.id, endpoint, window, metadata, window_s)
        batch = RunningBatch(record)
        self.running[record.id] = batch
        self.state.stats.batch_counts["created"] += 1
        batch.task = asyncio.get_running_loop().create_task(self._run(batch))
        return record

    def cancel_batch(self, batch_id: str) -> ServedBatch:
        batch = self.running.find(batch_id)
        record = batch.record
        if record.status in TERMINAL:
            raise ErrorReply(409, f"Cannot cancel a batch with status '{record.status}'.",
                              code="batch_not_cancellable")
        if record.status != "cancelling":
            batch.cancel_requested = True
            batch.cancelled.set()
            record.stamp("cancelling")
        return record

    # ---------------------------------------------------------------- lifecycle

    def _set(self, batch: RunningBatch, status: str) -> None:
        if batch.record.status == "cancelling" and status not in TERMINAL:
            return  # a cancel wins over the normal progression
        batch.record.stamp(status)
        if status in TERMINAL:
            self.state.stats.batch_counts[status] += 1

    async def _step(self) -> None:
        await asyncio.sleep(self.state.config.batch_step_s)

    async def _run(self, batch: RunningBatch) -> None:
        """Drive one batch to a terminal state; never raises into the event loop."""
        try:
            await self._lifecycle(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a simulator bug must still end the batch visibly
            batch.record.errors = [line_error("server_error", f"simulator error: {exc!r}", None)]
            self._set(batch, "failed")

    async def _lifecycle(self, batch: RunningBatch) -> None:
        record = batch.record
        await self._step()
        if batch.cancel_requested:
            await self._finish_cancel(batch, [], [])
            return
        stored = self.stored.get(record.input_file_id)
        lines, errors = validate_input(stored.content if stored else b"", record.endpoint)
        if errors:
            record.errors = errors
            self._set(batch, "failed")
            return
        record.total = len(lines)
        self._set(batch, "in_progress")
        await self._step()

        outputs: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        config = self.state.config
        fraction = config.batch_expire_after_fraction
        expire_at_line = None if fraction is None else math.floor(fraction * len(lines))
        stall = config.batch_stall_after_fraction
        stall_at_line = None if stall is None else math.floor(stall * len(lines))
        done = 0
        expired = False
        for done, line in enumerate(lines):
            if batch.cancel_requested:
                break
            if (expire_at_line is not None and done >= expire_at_line) or (
                time.time() >= record.deadline
            ):
                expired = True
                break
            if stall_at_line is not None and done >= stall_at_line:
                expired = not await self._stall(batch)
                break
            self._answer_line(record, line, outputs, failures)
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
            failures.extend(unrun_record(ln.custom_id, "batch_expired", EXPIRED_MESSAGE)
                            for ln in rest)
            record.failed += len(rest)
            self._write_files(record, outputs, failures)
            self._set(batch, "expired")
            return
        self._set(batch, "finalizing")
        await self._step()
        self._write_files(record, outputs, failures)
        if batch.cancel_requested:
            self._set(batch, "cancelled")
            return
        self._set(batch, "completed")

    async def _stall(self, batch: RunningBatch) -> bool:
        """Wait for a cancel, or the end of the window; ``True`` if it was cancelled."""
        left = max(batch.record.deadline - time.time(), 0.0)
        try:
            await asyncio.wait_for(batch.cancelled.wait(), left)
        except asyncio.TimeoutError:
            return False
        return True

    async def _finish_cancel(
        self,
        batch: RunningBatch,
        outputs: list[dict[str, Any]],
        failures: list[dict[str, Any]],
        rest: list[BatchLine] | None = None,
    ) -> None:
        await self._step()
        rest = rest or []
        failures.extend(unrun_record(ln.custom_id, "batch_cancelled", CANCELLED_MESSAGE)
                        for ln in rest)
        batch.record.failed += len(rest)
        self._write_files(batch.record, outputs, failures)
        self._set(batch, "cancelled")

    def _answer_line(
        self,
        record: ServedBatch,
        line: BatchLine,
        outputs: list[dict[str, Any]],
        failures: list[dict[str, Any]],
    ) -> None:
        status, body = complete_once(line.body, self.state.config)
        if status < 400:
            outputs.append(output_record(line.custom_id, status, body))
            record.completed += 1
        else:
            failures.append(output_record(line.custom_id, status, body))
            record.failed += 1

    def _write_files(
        self, record: ServedBatch, outputs: list[dict[str, Any]], failures: list[dict[str, Any]]
    ) -> None:
        if outputs:
            record.output_file_id = self.put_file(
                f"{record.id}_output.jsonl", "batch_output", jsonl(outputs)).id
        if failures:
            record.error_file_id = self.put_file(
                f"{record.id}_error.jsonl", "batch_output", jsonl(failures)).id

    async def close(self) -> None:
        """Stop lifecycle tasks on shutdown so the loop can exit promptly."""
        tasks = [b.task for b in self.running.values() if b.task and not b.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

