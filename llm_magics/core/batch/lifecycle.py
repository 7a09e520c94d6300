"""Submit, poll, download, retry and cancel: a job's conversation with the server.

Every function here is a coroutine for the core's event-loop thread
(``core.loop_thread``); the ``BatchJob`` handle wraps them for sync callers, and
the tracker widget awaits them directly, so the kernel stays free while a
batch is followed.

The job store is written before and after each server call, so whatever
happens between (a kernel restart, a crash, Ctrl-C) the store says which
batches exist and which results are already downloaded: a refresh in any
process carries on from there. Operations on one job are serialised by a
per-job lock, so a tracker and a ``wait()`` polling the same job never
download its files twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import openai

from ... import errors
from ..client import Endpoint, get_client
from ..history.context import current, within
from ..history.record import recorder_for
from ..jobstore import BatchRecord, JobRecord, JobStore
from ..policy.cache import get_cache
from ..settings import Settings
from ..types import Request
from . import api
from .constants import (
    MAX_BYTES_PER_BATCH,
    MAX_REQUESTS_PER_BATCH,
    METADATA_JOB_KEY,
    TERMINAL_STATES,
)
from .jsonl import (
    LineResult,
    gc_paused,
    outcome_from_record,
    parse_jsonl,
    read_record,
    synthetic_record,
)
from .split import split_sizes
from .summary import JobSummary, summarize

__all__ = ["JobContext", "Limits", "new_job_id", "send", "refresh", "retry", "cancel"]

log = logging.getLogger("llm_magics.batch")

_MAX_METADATA_VALUE = 512
_MAX_METADATA_KEYS = 16


@dataclass(frozen=True)
class Limits:
    """How a job is cut into batches (the server's limits unless a test wants smaller)."""

    max_requests: int = MAX_REQUESTS_PER_BATCH
    max_bytes: int = MAX_BYTES_PER_BATCH


@dataclass
class JobContext:
    """Everything a server operation on one job needs; the key lives only in ``endpoint``."""

    store: JobStore
    job: JobRecord
    endpoint: Endpoint
    settings: Settings
    use_cache: bool = False

    def client(self) -> openai.AsyncOpenAI:
        return get_client(self.endpoint, self.settings)


def new_job_id() -> str:
    """``job_20260101_120000_a1b2c3``: sortable by time and readable in a listing."""
    return f"job_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"


_locks: dict[str, asyncio.Lock] = {}


def _lock(job_id: str) -> asyncio.Lock:
    lock = _locks.get(job_id)
    if lock is None:
        lock = _locks[job_id] = asyncio.Lock()
    return lock


# -- sending ----------------------------------------------------------------------------------
async def send(ctx: JobContext, custom_ids: Sequence[str], limits: Limits, *,
               first_time: bool) -> int:
    """Upload ``custom_ids``' lines as one or more batches; returns how many were created.

    If the first batch cannot be created, the error is raised (nothing was sent).
    If a later one fails, the batches already created keep running, the lines
    left out get a ``not_submitted`` error (``retry_failed()`` sends them), and
    the failure is logged: raising would lose the handle of a running job.
    """
    async with _lock(ctx.job.id):
        return await _send(ctx, custom_ids, limits, first_time=first_time)


async def _send(ctx: JobContext, custom_ids: Sequence[str], limits: Limits, *,
                first_time: bool) -> int:
    store, job = ctx.store, ctx.job
    texts = await asyncio.to_thread(store.line_texts, job.id, custom_ids)
    encoded = [t.encode() for t in texts]
    parts = split_sizes([len(b) for b in encoded], max_requests=limits.max_requests,
                        max_bytes=limits.max_bytes)
    seq = store.next_batch_seq(job.id)
    client = ctx.client()
    created = 0
    for k, part in enumerate(parts):
        data = b"\n".join(encoded[part.start:part.stop]) + b"\n"
        # Shielded: once the server may have created a batch, it is recorded even if the
        # caller is interrupted (Ctrl-C), so no paid batch runs without a job knowing it.
        step = asyncio.ensure_future(_send_part(
            ctx, client, data, seq + k, len(parts), custom_ids[part.start:part.stop]))
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            await asyncio.wait([step])
            sent = k + (1 if not step.cancelled() and step.exception() is None else 0)
            if first_time:
                await _not_submitted(ctx, [cid for p in parts[sent:]
                                           for cid in custom_ids[p.start:p.stop]],
                                     "the submit was interrupted")
            raise
        except errors.LLMError as err:
            if created == 0:
                raise
            log.warning("batch job %s: part %d of %d was not created (%s); "
                        "job.retry_failed() sends it", job.id, k + 1, len(parts), err.message)
            if first_time:
                await _not_submitted(ctx, [cid for p in parts[k:]
                                           for cid in custom_ids[p.start:p.stop]], err.message)
            break
        created += 1
    _settle_state(ctx)
    return created


async def _not_submitted(ctx: JobContext, custom_ids: list[str], why: str) -> None:
    """Give lines that never reached a batch an error, so the job can end (and be retried)."""
    if custom_ids:
        await asyncio.to_thread(ctx.store.store_results, ctx.job.id, [
            read_record(synthetic_record(cid, "not_submitted", why), ctx.job.model,
                        prices=ctx.settings.prices)
            for cid in custom_ids])


async def _send_part(ctx: JobContext, client: openai.AsyncOpenAI, data: bytes, seq: int,
                     parts: int, custom_ids: Sequence[str]) -> None:
    """Upload one batch file, create its batch, and record it (with its lines) in the store."""
    job = ctx.job
    file_id = await api.upload(client, ctx.settings, ctx.endpoint, data, f"{job.id}-{seq}.jsonl")
    remote = await api.create(client, ctx.settings, ctx.endpoint, file_id,
                              _metadata(job, seq, parts))
    now = time.time()
    ctx.store.add_batch(BatchRecord(remote.id, remote.status, total=len(custom_ids),
                                    job_id=job.id, seq=seq, input_file_id=file_id,
                                    created_at=now, updated_at=now),
                        custom_ids)


def _metadata(job: JobRecord, seq: int, parts: int) -> dict[str, str]:
    """The server's metadata: the job id and part, then the caller's (strings, capped)."""
    meta = {METADATA_JOB_KEY: job.id, "llm_magics_part": str(seq)}
    for key, value in job.metadata.items():
        if len(meta) >= _MAX_METADATA_KEYS:
            break
        meta.setdefault(str(key)[:64], str(value)[:_MAX_METADATA_VALUE])
    return meta


# -- following --------------------------------------------------------------------------------
async def refresh(ctx: JobContext) -> JobSummary:
    """Ask the server about every running batch, download the ones that ended, summarise."""
    async with _lock(ctx.job.id):
        store, job = ctx.store, ctx.job
        batches = store.batches(job.id)
        live = [b for b in batches if b.status not in TERMINAL_STATES and not b.fetched]
        client = ctx.client() if any(not b.fetched for b in batches) else None
        if live:
            remotes = await asyncio.gather(*(
                api.retrieve(client, ctx.settings, ctx.endpoint, b.id) for b in live))
            for remote in remotes:
                store.update_batch(remote.id, **remote.seen())
        for b in store.batches(job.id):
            if b.status in TERMINAL_STATES and not b.fetched:
                await _fetch(ctx, b)
        return _settle_state(ctx)


async def _fetch(ctx: JobContext, batch: BatchRecord) -> None:
    """Download a finished batch's output and error files and keep every line's result."""
    client = ctx.client()
    files = [fid for fid in (batch.output_file_id, batch.error_file_id) if fid]
    contents = await asyncio.gather(*(
        api.download(client, ctx.settings, ctx.endpoint, fid) for fid in files))
    results = await asyncio.to_thread(_read_results, ctx, batch, contents)
    await asyncio.to_thread(ctx.store.store_results, ctx.job.id, results, batch.id)
    await asyncio.to_thread(_record, ctx, results)
    if ctx.use_cache:
        await asyncio.to_thread(_cache_answers, ctx, results)


def _record(ctx: JobContext, results: list[LineResult]) -> None:
    """One call-log row per line, once: a batch's output is fetched once, when it ends."""
    recorder = recorder_for(ctx.settings, "batch")
    if recorder is None:
        return
    job = ctx.job
    # Fetched whenever someone polls, maybe from another cell: the cell is not known here.
    with within(face=current().face or "batch", mode="batch", cell=None, job_id=job.id):
        for r in results:
            request = Request([], job.model, job.base_url)  # the lines' messages stay in the job
            outcome = outcome_from_record(json.loads(r.record), job.model, job.base_url)
            if isinstance(outcome, errors.LLMError):
                recorder.failure(request, outcome, latency_s=None)
            else:  # priced at the batch price
                recorder.answer(request, outcome)


def _read_results(ctx: JobContext, batch: BatchRecord, contents: list[bytes]) -> list[LineResult]:
    with gc_paused():
        return _read_records(ctx, batch, contents)


def _read_records(ctx: JobContext, batch: BatchRecord, contents: list[bytes]) -> list[LineResult]:
    by_id: dict[str, tuple[dict[str, Any], str | None]] = {}
    for content in contents:
        for record, raw in parse_jsonl(content):
            by_id[record["custom_id"]] = (record, raw)
    missing = _missing_reason(batch)
    out: list[LineResult] = []
    for cid in ctx.store.lines_in(ctx.job.id, batch.id):
        record, raw = by_id.get(cid) or (synthetic_record(cid, *missing), None)
        out.append(read_record(record, ctx.job.model, raw, prices=ctx.settings.prices))
    return out


def _missing_reason(batch: BatchRecord) -> tuple[str, str]:
    """Why a line has no record in either file, from how its batch ended."""
    if batch.status == "failed":
        reasons = "; ".join(
            (f"line {e['line']}: " if e.get("line") is not None else "")
            + f"{e.get('code') or 'error'}: {e.get('message') or 'no details'}"
            for e in batch.errors[:5]) or "no reason given"
        return "batch_failed", f"batch {batch.id} was rejected by the server ({reasons})"
    if batch.status == "cancelled":
        return "batch_cancelled", f"batch {batch.id} was cancelled before it ran"
    if batch.status == "expired":
        return "batch_expired", f"batch {batch.id} expired before it ran"
    return "no_result", f"batch {batch.id} ended {batch.status} without a result for it"


def _cache_answers(ctx: JobContext, results: list[LineResult]) -> None:
    """Put each answer in the response cache, so a later sync or async call is free."""
    ok = [r for r in results if r.ok]
    if not ok:
        return
    keys = ctx.store.cache_keys(ctx.job.id, [r.custom_id for r in ok])
    cache = get_cache(ctx.settings.cache_path)
    for r in ok:
        key = keys.get(r.custom_id)
        if key:
            outcome = outcome_from_record(json.loads(r.record), ctx.job.model, ctx.job.base_url,
                                          ctx.settings.prices)
            if not isinstance(outcome, errors.LLMError):
                cache.put(key, outcome)
    cache.flush()


def _settle_state(ctx: JobContext) -> JobSummary:
    """Summarise from the store and keep the job's state (and when it ended) there."""
    store, job = ctx.store, ctx.job
    summary = summarize(store, job)
    ended = (job.ended_at or time.time()) if summary.done else None
    store.set_job_state(job.id, summary.state, ended)
    ctx.job = replace(job, state=summary.state, ended_at=ended)
    return replace(summary, ended_at=ended)


# -- changing course --------------------------------------------------------------------------
async def retry(ctx: JobContext, limits: Limits) -> int:
    """Send every line that ended without an answer again, as new batches of this job."""
    await refresh(ctx)
    async with _lock(ctx.job.id):
        custom_ids = await asyncio.to_thread(ctx.store.retryable_lines, ctx.job.id)
        if not custom_ids:
            return 0
        return await _send(ctx, custom_ids, limits, first_time=False)


async def cancel(ctx: JobContext) -> JobSummary:
    """Cancel every running batch; lines not run yet come back as ``CancelledError``."""
    async with _lock(ctx.job.id):
        client = ctx.client()
        for b in ctx.store.batches(ctx.job.id):
            if b.status in TERMINAL_STATES or b.status == "cancelling":
                continue
            remote = await api.cancel(client, ctx.settings, ctx.endpoint, b.id)
            if remote is not None:
                ctx.store.update_batch(b.id, status=remote.status)
    return await refresh(ctx)
