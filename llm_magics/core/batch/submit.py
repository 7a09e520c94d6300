"""Start a Batch API job: from prepared requests, from prompts, or from a JSONL file.

Three doors, one room. ``submit_requests`` is what the batch backend calls with
requests the faces prepared (the DataFrame accessor's ``mode="batch"``, the
``%llm_batch`` magic); ``submit_prompts`` is ``llm_magics.batch.submit``;
``submit_jsonl`` sends a batch file written elsewhere. Each one:

1. turns inputs into JSONL lines with stable ``custom_id`` s; identical
   requests share one line (and one answer), ``None`` and pre-send errors keep
   their slot in the input mapping;
2. answers what it can from the response cache (no line is sent for those);
3. records the job in the store, then uploads and creates the batches.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import errors
from ..budget import check_batch
from ..endpoint import Endpoint
from ..history.context import default_face
from ..history.record import recorder_for
from ..jobstore import JobRecord, get_store
from ..loop_thread import on_loop, sync_twin
from ..pipeline import build_requests, resolve_call
from ..policy.cache import get_cache
from ..requestset import RequestSet
from ..settings import Settings
from ..types import Messages, Priority, Request
from . import lifecycle
from .constants import BATCH_ENDPOINT
from .job import BatchJob, error_entry
from .jsonl import Outcome, build_line, custom_id_for
from .lifecycle import JobContext, Limits
from .split import fits

__all__ = [  # the ways in (re-exported by the package); ``prepare_lines`` is the batch's own
    "submit_requests",
    "asubmit_requests",
    "submit_prompts",
    "asubmit_prompts",
    "submit_jsonl",
    "asubmit_jsonl",
]

Finalize = Callable[[list[Outcome | None]], Any]


@dataclass
class Prepared:
    """A job's input before it is stored: the mapping, the lines, and cached answers."""

    positions: list[Any] = field(default_factory=list)
    """Per input: its ``custom_id``, ``None`` (nothing to send), or a pre-send error entry."""
    lines: list[tuple[str, str, str | None]] = field(default_factory=list)
    """``(custom_id, jsonl_line, cache_key)`` per distinct request."""
    cached: dict[str, str] = field(default_factory=dict)
    """custom_id -> stored record for lines the response cache already answers."""


def prepare_lines(requests: Sequence[Request | errors.LLMError | None], *,
                  max_bytes: int, settings: Settings | None = None) -> Prepared:
    """Inputs to lines: one per distinct request, its ``custom_id`` from its first position.

    Dedupe and the cache lookup are the pipeline's own (``RequestSet``): with
    ``settings`` (and the cache on) lines the cache answers are stored as
    answered, and nothing is sent for them.
    """
    checked = [r if r is None or isinstance(r, (Request, errors.LLMError)) else
               errors.InvalidRequestError(f"Input {i} is a {type(r).__name__}, not a prepared "
                                          "Request.") for i, r in enumerate(requests)]
    cache = get_cache(settings.cache_path) if settings is not None and settings.cache else None
    unique = RequestSet(checked, cache=cache,
                        recorder=recorder_for(settings, "batch") if settings is not None else None)
    out = Prepared()
    entries: dict[str, Any] = {}  # cache key -> custom_id or error entry
    for key, req in unique.unique.items():
        cid = custom_id_for(unique.first_index(key), key)
        line = build_line(cid, req.body())
        size = len(line.encode())
        if not fits(size, max_bytes):
            entries[key] = error_entry(errors.InvalidRequestError(
                f"This request is {size:,} bytes as a batch line; a batch file holds "
                f"at most {max_bytes:,}. Shorten it or send it with mode='async'."))
            continue
        entries[key] = cid
        out.lines.append((cid, line, key))
        if key in unique.hits:
            out.cached[cid] = json.dumps({"custom_id": cid, "cached": unique.hits[key].to_dict()},
                                         separators=(",", ":"))
    for item in checked:
        if isinstance(item, Request):
            out.positions.append(entries[item.cache_key()])
        else:
            out.positions.append(None if item is None else error_entry(item))
    return out


# -- the shared tail ----------------------------------------------------------------------------
async def _start(prepared: Prepared, *, settings: Settings, endpoint: Endpoint, model: str,
                 use_cache: bool, metadata: dict[str, Any] | None,
                 index_labels: Sequence[Any] | None, limits: Limits,
                 finalize: Finalize | None) -> BatchJob:
    if not endpoint.has_batch_api:
        raise errors.ConfigurationError(
            f"{endpoint.base_url} has no Batch API; use mode='async', or point base_url "
            "at a server with /v1/batches (OpenAI, the simulator).")
    store = get_store(settings.jobstore_path)
    record = JobRecord(
        id=lifecycle.new_job_id(), created_at=time.time(), base_url=endpoint.base_url,
        model=model, endpoint=BATCH_ENDPOINT, size=len(prepared.positions), state="submitting",
        metadata=dict(metadata or {}),
        index_labels=None if index_labels is None else list(index_labels),
        use_cache=use_cache,
    )
    await asyncio.to_thread(store.create_job, record, prepared.positions, prepared.lines,
                            prepared.cached.items())
    ctx = JobContext(store, record, endpoint, settings, use_cache)
    to_send = [cid for cid, _, _ in prepared.lines if cid not in prepared.cached]
    try:
        if to_send:
            await lifecycle.send(ctx, to_send, limits, first_time=True)
        else:
            await lifecycle.refresh(ctx)  # everything was cached: the job is already complete
    except BaseException:
        if not store.batches(record.id):
            store.delete_job(record.id)
        raise
    return BatchJob(record.id, settings=settings, base_url=endpoint.base_url,
                    finalize=finalize, limits=limits)


# -- from prepared requests (the faces) ---------------------------------------------------------
async def asubmit_requests(
    requests: Sequence[Request | errors.LLMError | None],
    endpoint: Endpoint,
    settings: Settings,
    *,
    use_cache: bool | None = None,
    index_labels: Sequence[Any] | None = None,
    metadata: dict[str, Any] | None = None,
    finalize: Finalize | None = None,
    limits: Limits | None = None,
) -> BatchJob:
    """Submit prepared requests as a Batch API job; see ``submit_requests``."""
    limits = limits or Limits()
    use = settings.cache if use_cache is None else use_cache

    async def run() -> BatchJob:
        prepared = await asyncio.to_thread(prepare_lines, requests, max_bytes=limits.max_bytes,
                                           settings=settings if use else None)
        check_batch(settings, requests, {key for cid, _, key in prepared.lines
                                         if key is not None and cid in prepared.cached})
        return await _start(prepared, settings=settings, endpoint=endpoint, model=endpoint.model,
                            use_cache=use, metadata=metadata, index_labels=index_labels,
                            limits=limits, finalize=finalize)

    return await on_loop(run())


submit_requests = sync_twin(
    asubmit_requests, name="submit_requests",
    doc="""Submit prepared requests as a Batch API job and return its handle at once.

    ``requests`` are in input order; ``None`` (nothing to send) and errors (a
    row that failed before sending) keep their slot, so ``job.results()`` has
    one value per input, in order. ``index_labels`` (e.g. a DataFrame index) are
    stored with the job. ``finalize`` turns the outcome list into what
    ``job.results()`` returns in this process (the accessor's Series).

        >>> job = submit_requests(requests, endpoint, settings)  # doctest: +SKIP
    """)


# -- from prompts (llm_magics.batch.submit) -----------------------------------------------------
async def asubmit_prompts(
    prompts_or_messages: Sequence[str | Messages | None],
    *,
    model: str | None = None,
    system: str | None = None,
    priority: Priority | None = None,
    cache: bool | None = None,
    metadata: dict[str, Any] | None = None,
    index_labels: Sequence[Any] | None = None,
    limits: Limits | None = None,
    **options: Any,
) -> BatchJob:
    """Send prompts (or message lists) through the Batch API at half price; returns at once.

        >>> job = await asubmit_prompts([f"Define {w}" for w in words])   # doctest: +SKIP

    ``options`` are settings (``base_url``, ``api_key``, ``jobstore_path``...) or
    request fields (``temperature``, ``max_tokens``...). Answers already in the
    response cache are not sent again (``cache=False`` sends everything).
    ``None`` prompts send nothing and get ``None``; ``index_labels`` (row labels)
    are stored with the job; ``metadata`` goes to the server's batch metadata.
    """
    default_face("batch")
    call = await resolve_call({"model": model, **options}, "batch")
    requests = build_requests(prompts_or_messages, call, system=system, priority=priority,
                              none_sends_nothing=True)
    return await asubmit_requests(requests, call.endpoint, call.settings, use_cache=cache,
                                  metadata=metadata, index_labels=index_labels, limits=limits)


submit_prompts = sync_twin(
    asubmit_prompts, name="submit_prompts",
    doc="""Send prompts (or message lists) through the Batch API at half price; returns at once.

        >>> job = submit([f"Define {w}" for w in words], model="gpt-4o-mini")  # doctest: +SKIP
        >>> answers = job.wait().results()                                    # doctest: +SKIP

    ``options`` are settings (``base_url``, ``api_key``, ``jobstore_path``...) or
    request fields (``temperature``, ``max_tokens``...). Answers already in the
    response cache are not sent again (``cache=False`` sends everything).
    ``None`` prompts send nothing and get ``None``; ``index_labels`` (row labels)
    are stored with the job; ``metadata`` goes to the server's batch metadata.
    With ``max_cost_usd=``, a job whose worst case at batch prices could pass
    the cap is not submitted (``BudgetExceededError``); cached rows are free.
    """)


# -- from a JSONL file ----------------------------------------------------------------------------
def _read_jsonl_input(source: str | Path | bytes) -> Prepared:
    """A batch input file to lines; each needs a unique ``custom_id`` to map results back.

    Everything else (method, url, body) is for the server to judge: its
    validation errors come back on the job, line by line.
    """
    if isinstance(source, bytes):
        text = source.decode("utf-8")
    else:
        text = Path(source).expanduser().read_text("utf-8")
    out = Prepared()
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            raise errors.InvalidRequestError(
                f"Line {number} of the batch file is not valid JSON.") from None
        cid = item.get("custom_id") if isinstance(item, dict) else None
        if not isinstance(cid, str) or not cid:
            raise errors.InvalidRequestError(
                f"Line {number} of the batch file has no custom_id: each line needs a unique "
                'one, e.g. {"custom_id": "row-1", "method": "POST", "url": '
                '"/v1/chat/completions", "body": {...}}.')
        if cid in seen:
            raise errors.InvalidRequestError(
                f"Line {number} of the batch file repeats custom_id {cid!r}; each must be "
                "unique so the answers can be matched back.")
        seen.add(cid)
        out.positions.append(cid)
        out.lines.append((cid, raw.strip(), None))
    if not out.lines:
        raise errors.InvalidRequestError("The batch file has no request lines.")
    return out


async def asubmit_jsonl(source: str | Path | bytes, *, metadata: dict[str, Any] | None = None,
                        limits: Limits | None = None, **options: Any) -> BatchJob:
    """Submit a batch input file written elsewhere; results come back in its line order.

        >>> job = await asubmit_jsonl("requests.jsonl")       # doctest: +SKIP
    """
    default_face("batch")
    call = await resolve_call(options, "batch")
    prepared = _read_jsonl_input(source)
    model = _first_model(prepared) or call.endpoint.model
    if call.settings.max_cost_usd is not None:
        check_batch(call.settings, _line_requests(prepared, model, call.endpoint.base_url), set())
    return await on_loop(_start(
        prepared, settings=call.settings, endpoint=call.endpoint, model=model, use_cache=False,
        metadata=metadata, index_labels=None, limits=limits or Limits(), finalize=None))


submit_jsonl = sync_twin(
    asubmit_jsonl, name="submit_jsonl",
    doc="""Submit a batch input file written elsewhere; results come back in its line order.

        >>> job = submit_jsonl("requests.jsonl")       # doctest: +SKIP
    """)


def _line_requests(prepared: Prepared, model: str, base_url: str) -> list[Request]:
    """The chat requests a batch file holds, so a cap can price their worst case."""
    out = []
    for _, line, _ in prepared.lines:
        body = json.loads(line).get("body")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            raise errors.ConfigurationError(
                "max_cost_usd can only be kept for chat completion lines (a body with "
                "'messages'); drop max_cost_usd to submit this file.")
        params = {k: v for k, v in body.items() if k not in ("model", "messages")}
        out.append(Request(messages, body.get("model") or model, base_url, params))
    return out


def _first_model(prepared: Prepared) -> str | None:
    for _, line, _ in prepared.lines[:1]:
        body = json.loads(line).get("body")
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            return body["model"]
    return None
