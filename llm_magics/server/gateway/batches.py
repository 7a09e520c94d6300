"""The gateway's Files and Batch API backend: storage in :class:`GatewayStore`, real lifecycle.

A batch moves ``validating -> in_progress -> finalizing -> completed`` as
fast as the upstream answers, or ends ``failed`` (bad input: ``errors.data``
names each line), ``expired`` (the completion window ran out: unrun lines get
``batch_expired``) or ``cancelling -> cancelled``. Every state change is
saved, so after a restart (even a SIGKILL) each unfinished batch resumes
where it was: validation is redone, lines already answered are not sent
again, output files are (re)written from the stored results.

Every method takes the caller's tenant: another tenant's file or batch is a
404, exactly like one that does not exist. :meth:`GatewayBatches.for_tenant`
binds one tenant, which is what the shared routes see as their backend.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from starlette.responses import FileResponse, Response

from ..batch_api import (
    ACTIVE,
    CANCELLED_MESSAGE,
    EXPIRED_MESSAGE,
    TERMINAL,
    WINDOW_S,
    FileRecord,
    ServedBatch,
    line_error,
    new_hex,
    unrun_record,
    validate_input,
)
from ..openai_shapes import ErrorReply, bad_request, not_found
from .batch_lines import LineRunner
from .store import GatewayStore

__all__ = ["GatewayBatches", "TenantBatches"]

log = logging.getLogger("llm_magics.gateway.batches")


class GatewayBatches:
    """Implements :class:`~llm_magics.server.batch_api.BatchBackend` for the gateway."""

    def __init__(self, store: GatewayStore, lines: LineRunner, *, max_file_bytes: int,
                 max_active: int | None = None, max_storage: int | None = None,
                 window_s: float | None = None, retry_s: float = 5.0) -> None:
        self.store = store
        self.max_active = max_active
        self.max_storage = max_storage
        self.lines = lines
        self.max_file_bytes: int | None = max_file_bytes
        self.window_s = window_s
        self.retry_s = retry_s
        self._live: dict[str, ServedBatch] = {}
        self._cancel: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._tenants: dict[str, str] = {}
        """Tenant of each live batch (its output files are the tenant's too)."""

    def for_tenant(self, tenant: str) -> TenantBatches:
        return TenantBatches(self, tenant)

    # ------------------------------------------------------------------ files

    async def add_file(self, filename: str, purpose: str, data: IO[bytes],
                       tenant: str) -> FileRecord:
        size = data.seek(0, 2)
        data.seek(0)
        used = self.store.bytes_of(tenant)
        if self.max_storage is not None and used + size > self.max_storage:
            mb = self.max_storage / (1024 * 1024)
            raise bad_request(
                f"This key's files would take more than the {mb:g} MB it may keep on this "
                f"gateway (--max-storage-mb; {used} bytes in use). Delete files it no longer "
                "needs (uploads and batch outputs) and upload again.",
                code="storage_limit_exceeded")
        record = FileRecord(f"file-{new_hex()}", filename, purpose, 0)
        return await asyncio.to_thread(self.store.add_file, record, data, tenant)

    def files(self, tenant: str) -> list[FileRecord]:
        return self.store.files(tenant)

    def get_file(self, file_id: str, tenant: str) -> FileRecord:
        record = self.store.get_file(file_id, tenant)
        if record is None:
            raise not_found(f"No such File object: {file_id}", param="id")
        return record

    async def file_content(self, file_id: str, tenant: str) -> Response:
        self.get_file(file_id, tenant)
        return FileResponse(self.store.file_path(file_id), media_type="application/octet-stream")

    def delete_file(self, file_id: str, tenant: str) -> None:
        self.get_file(file_id, tenant)
        self.store.delete_file(file_id)

    # ------------------------------------------------------------------ batches

    def batches(self, tenant: str) -> list[ServedBatch]:
        return [self._live.get(b.id, b) for b, _ in self.store.batches(tenant)]

    def get_batch(self, batch_id: str, tenant: str) -> ServedBatch:
        live = self._live.get(batch_id)
        if live is not None and self._tenants.get(batch_id) == tenant:
            return live
        record = self.store.get_batch(batch_id, tenant)
        if record is not None:
            return self._live.get(batch_id, record)
        raise not_found(f"No batch found with id '{batch_id}'.", param="batch_id")

    @property
    def running(self) -> int:
        """Batches not yet in a terminal state (what ``/metrics`` reports as in progress)."""
        return sum(1 for b in self._live.values() if b.status not in TERMINAL)

    def create_batch(self, input_file: FileRecord, endpoint: str, window: str,
                     metadata: dict[str, Any] | None, tenant: str) -> ServedBatch:
        running = sum(1 for owner in self._tenants.values() if owner == tenant)
        if self.max_active is not None and running >= self.max_active:
            raise ErrorReply(
                429, f"This key has {running} batches in progress, the most it may run at once; "
                "wait for one to finish (or cancel one), or put more lines in one batch.",
                type="requests", code="too_many_active_batches")
        window_s = self.window_s or WINDOW_S[window]
        record = ServedBatch.new(input_file.id, endpoint, window, metadata, window_s)
        self.store.save_batch(record, tenant)
        self._start(record, tenant)
        return record

    def cancel_batch(self, batch_id: str, tenant: str) -> ServedBatch:
        record = self.get_batch(batch_id, tenant)
        if record.status in TERMINAL:
            raise ErrorReply(409, f"Cannot cancel a batch with status '{record.status}'.",
                              code="batch_not_cancellable")
        if record.status != "cancelling":
            record.stamp("cancelling")
            self.store.save_batch(record)
        event = self._cancel.get(batch_id)
        if event is not None:
            event.set()
        return record

    # ------------------------------------------------------------------ lifecycle

    def resume(self) -> int:
        """Restart every batch a previous run left unfinished; returns how many."""
        resumed = 0
        for record, tenant in self.store.batches(None):
            if record.status in ACTIVE and record.id not in self._live:
                record.total, record.completed, record.failed = self.store.line_counts(record.id)
                self._start(record, tenant)
                resumed += 1
        return resumed

    def _start(self, record: ServedBatch, tenant: str) -> None:
        self._live[record.id] = record
        self._tenants[record.id] = tenant
        event = self._cancel[record.id] = asyncio.Event()
        if record.status == "cancelling":
            event.set()
        self._tasks[record.id] = asyncio.get_running_loop().create_task(
            self._run(record), name=f"batch {record.id}")

    async def close(self) -> None:
        """Stop the lifecycle tasks (shutdown); their batches resume on the next start."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _set(self, record: ServedBatch, status: str) -> None:
        if record.status == "cancelling" and status not in TERMINAL:
            return  # a cancel wins over the normal progression
        record.stamp(status)
        self.store.save_batch(record)

    async def _run(self, record: ServedBatch) -> None:
        """Drive one batch to a terminal state; a bug fails the batch visibly, never silently."""
        try:
            await self._lifecycle(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("batch %s failed inside the gateway", record.id)
            record.errors = [line_error("server_error", f"gateway error: {exc!r}", None)]
            record.stamp("failed")
            self.store.save_batch(record)
        finally:
            if record.status in TERMINAL:
                self._live.pop(record.id, None)
                self._cancel.pop(record.id, None)
                self._tasks.pop(record.id, None)
                self._tenants.pop(record.id, None)

    async def _lifecycle(self, record: ServedBatch) -> None:
        cancel = self._cancel[record.id]
        if record.status == "validating":
            if not await asyncio.to_thread(self._validate, record):
                self._set(record, "failed")
                return
            self._set(record, "in_progress")
        if record.status == "in_progress":
            if await self._run_lines(record, cancel):
                await self._finish(record, "expired", "batch_expired", EXPIRED_MESSAGE)
                return
            self._set(record, "finalizing")
        if record.status == "finalizing":
            await self._finish(record, "completed")
        elif record.status == "cancelling":
            await self._finish(record, "cancelled", "batch_cancelled", CANCELLED_MESSAGE)

    def _validate(self, record: ServedBatch) -> bool:
        path = self.store.file_path(record.input_file_id)
        content = path.read_bytes() if path.exists() else b""
        lines, problems = validate_input(content, record.endpoint)
        if problems:
            record.errors = problems
            return False
        self.store.replace_lines(record.id, lines)
        record.total = len(lines)
        return True

    async def _run_lines(self, record: ServedBatch, cancel: asyncio.Event) -> bool:
        """Rounds until no line is pending; True if the window ended first."""
        while not cancel.is_set():
            remaining = record.deadline - time.time()
            if remaining <= 0:
                return True
            pending = self.store.pending_lines(record.id)
            if not pending:
                return False
            round_task = asyncio.ensure_future(
                self.lines.run_round(record, pending, self._tenants[record.id]))
            stop = asyncio.ensure_future(cancel.wait())
            done, _ = await asyncio.wait({round_task, stop}, timeout=remaining,
                                         return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if round_task not in done:  # cancelled or out of time: stop what is in flight
                round_task.cancel()
                await asyncio.gather(round_task, return_exceptions=True)
                continue
            if round_task.result():  # lines left after transient errors: wait, then retry
                try:
                    await asyncio.wait_for(cancel.wait(), min(self.retry_s, remaining))
                except asyncio.TimeoutError:
                    pass
        return False

    async def _finish(self, record: ServedBatch, status: str, unrun_code: str | None = None,
                      unrun_message: str = "") -> None:
        unrun: list[dict[str, Any]] = []
        if unrun_code is not None:
            unrun = [unrun_record(custom_id, unrun_code, unrun_message)
                     for _, custom_id, _ in self.store.pending_lines(record.id)]
        await asyncio.to_thread(self._write_outputs, record, unrun)
        total, completed, failed = self.store.line_counts(record.id)
        record.total, record.completed, record.failed = total, completed, failed + len(unrun)
        self._set(record, status)

    def _write_outputs(self, record: ServedBatch, unrun: list[dict[str, Any]]) -> None:
        self.store.delete_files_of(record.id)  # a crash may have cut an earlier finalizing short
        record.output_file_id = self._write_file(record, "output", ok=True, extra=[])
        record.error_file_id = self._write_file(record, "error", ok=False, extra=unrun)

    def _write_file(self, record: ServedBatch, kind: str, *, ok: bool,
                    extra: list[dict[str, Any]]) -> str | None:
        written = 0
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=self.store.files_dir,
                                         suffix=".part", delete=False) as out:
            for line in self.store.records(record.id, ok):
                out.write(line + "\n")
                written += 1
            for item in extra:
                out.write(json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n")
                written += 1
        path = Path(out.name)
        if not written:
            path.unlink()
            return None
        file = FileRecord(f"file-{new_hex()}", f"{record.id}_{kind}.jsonl", "batch_output", 0)
        return self.store.adopt_file(file, path, owner=record.id,
                                     tenant=self._tenants[record.id]).id


class TenantBatches:
    """One tenant's view of :class:`GatewayBatches`: the ``BatchBackend`` the routes use."""

    def __init__(self, batches: GatewayBatches, tenant: str) -> None:
        self._batches = batches
        self._tenant = tenant
        self.max_file_bytes = batches.max_file_bytes

    async def add_file(self, filename: str, purpose: str, data: IO[bytes]) -> FileRecord:
        return await self._batches.add_file(filename, purpose, data, self._tenant)

    def files(self) -> list[FileRecord]:
        return self._batches.files(self._tenant)

    def get_file(self, file_id: str) -> FileRecord:
        return self._batches.get_file(file_id, self._tenant)

    async def file_content(self, file_id: str) -> Response:
        return await self._batches.file_content(file_id, self._tenant)

    def delete_file(self, file_id: str) -> None:
        self._batches.delete_file(file_id, self._tenant)

    def create_batch(self, input_file: FileRecord, endpoint: str, window: str,
                     metadata: dict[str, Any] | None) -> ServedBatch:
        return self._batches.create_batch(input_file, endpoint, window, metadata, self._tenant)

    def batches(self) -> list[ServedBatch]:
        return self._batches.batches(self._tenant)

    def get_batch(self, batch_id: str) -> ServedBatch:
        return self._batches.get_batch(batch_id, self._tenant)

    def cancel_batch(self, batch_id: str) -> ServedBatch:
        return self._batches.cancel_batch(batch_id, self._tenant)
