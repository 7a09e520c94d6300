"""The Files and Batches calls, each under the one retry policy.

Uploads, creates, polls and downloads are ordinary API calls: a 502 or a
dropped connection while polling a 12-hour batch must not end the wait, so
each goes through ``policy.retry.retrying`` (429, 5xx, timeouts and dropped
connections are retried with backoff; 4xx are not) and SDK errors become
``llm_magics.errors`` through ``client.translate_error``.

A 404 here means a batch or file the server does not have (the job store
points at another server, or the file expired), not an unknown model, so it
gets its own message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import openai

from ... import errors
from ..client import Endpoint, translate_error
from ..jobstore import RemoteBatch
from ..policy.retry import retrying
from ..settings import Settings
from .constants import BATCH_ENDPOINT, COMPLETION_WINDOW

__all__ = ["upload", "create", "retrieve", "cancel", "download"]

T = TypeVar("T")


def _remote(batch: Any) -> RemoteBatch:
    """The part of the SDK's Batch object a job keeps."""
    counts = getattr(batch, "request_counts", None)
    listed = getattr(getattr(batch, "errors", None), "data", None) or []
    return RemoteBatch(
        id=batch.id,
        status=batch.status,
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
        total=getattr(counts, "total", 0) or 0,
        completed=getattr(counts, "completed", 0) or 0,
        failed=getattr(counts, "failed", 0) or 0,
        errors=[_error_dict(e) for e in listed],
    )


def _error_dict(err: Any) -> dict[str, Any]:
    return {name: getattr(err, name, None) for name in ("code", "message", "param", "line")}


async def _call(settings: Settings, endpoint: Endpoint, what: str,
                fn: Callable[[], Awaitable[T]]) -> T:
    async for attempt in retrying(settings):
        with attempt:
            try:
                return await fn()
            except openai.NotFoundError as err:
                raise errors.InvalidRequestError(
                    f"{endpoint.base_url} has no {what} (404). Is this job from another "
                    "server? Pass base_url=... to get_job(), or the file may have expired.",
                    status_code=404, request_id=err.request_id,
                ) from None
            except openai.OpenAIError as err:
                raise translate_error(err, endpoint) from None
    raise AssertionError("unreachable: tenacity re-raises the last error")


async def upload(client: openai.AsyncOpenAI, settings: Settings, endpoint: Endpoint,
                 data: bytes, filename: str) -> str:
    """Upload one batch input file; returns its file id."""
    created = await _call(settings, endpoint, "files endpoint", lambda: client.files.create(
        file=(filename, data, "application/jsonl"), purpose="batch"))
    return created.id


async def create(client: openai.AsyncOpenAI, settings: Settings, endpoint: Endpoint,
                 input_file_id: str, metadata: dict[str, str]) -> RemoteBatch:
    batch = await _call(settings, endpoint, f"input file {input_file_id}",
                        lambda: client.batches.create(
                            input_file_id=input_file_id, endpoint=BATCH_ENDPOINT,
                            completion_window=COMPLETION_WINDOW, metadata=metadata))
    return _remote(batch)


async def retrieve(client: openai.AsyncOpenAI, settings: Settings, endpoint: Endpoint,
                   batch_id: str) -> RemoteBatch:
    batch = await _call(settings, endpoint, f"batch {batch_id}",
                        lambda: client.batches.retrieve(batch_id))
    return _remote(batch)


async def cancel(client: openai.AsyncOpenAI, settings: Settings, endpoint: Endpoint,
                 batch_id: str) -> RemoteBatch | None:
    """Ask the server to cancel; ``None`` if the batch had already ended (409, not retried)."""

    async def call() -> Any:
        try:
            return await client.batches.cancel(batch_id)
        except openai.ConflictError:
            return None

    batch = await _call(settings, endpoint, f"batch {batch_id}", call)
    return None if batch is None else _remote(batch)


async def download(client: openai.AsyncOpenAI, settings: Settings, endpoint: Endpoint,
                   file_id: str) -> bytes:
    content = await _call(settings, endpoint, f"file {file_id}",
                          lambda: client.files.content(file_id))
    return content.content
