"""``BatchJob``: the handle of a Batch API job, in this process or found again in the store.

A handle holds nothing but the job id, settings and (in the process that
submitted it) an optional ``finalize`` function; everything else is read from
the job store, so ``get_job(id)`` after a kernel restart gives a handle that
behaves exactly like the original. The API key comes from the settings each
time (it is never stored).

    >>> job = llm_magics.batch.submit(["Define cat", "Define dog"])   # doctest: +SKIP
    >>> job.wait().results()                                          # doctest: +SKIP
    [Response(text='...'), Response(text='...')]
    >>> job.status().saving_usd                                        # doctest: +SKIP

It has the shape of every handle (``core.jobs``): ``status()``, ``done()``,
``wait()``, ``results()`` (waits for the end), ``cancel()``. Sync methods are
generated from the async ones and wait on the core's event-loop thread (Ctrl-C
stops the wait, not the batch: it keeps running on the server).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from ... import errors
from ..cost import Prices
from ..endpoint import NO_KEY, OPENAI_HOST, Endpoint
from ..jobstore import JobRecord, JobStore, get_store
from ..loop_thread import on_loop, run_sync, sync_twin
from ..settings import Settings, resolve
from . import lifecycle
from .jsonl import Outcome, gc_paused, outcome_from_record
from .lifecycle import JobContext, Limits
from .poll import poll_delays
from .summary import JobSummary, summarize

__all__ = ["BatchJob", "get_job", "jobs", "outcomes_of", "error_entry"]


class BatchJob:
    """A Batch API job: follow it, collect its results in input order, retry or cancel it."""

    def __init__(
        self,
        job_id: str,
        *,
        settings: Settings | None = None,
        base_url: str | None = None,
        finalize: Callable[[list[Outcome | None]], Any] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._settings = settings if settings is not None else resolve()
        self._store: JobStore = get_store(self._settings.jobstore_path)
        record = self._store.get_job(job_id)
        if record is None:
            raise errors.InvalidRequestError(
                f"No batch job {job_id!r} in {self._settings.jobstore_path}. "
                "llm_magics.batch.jobs() lists the jobs there; jobstore_path=... picks "
                "another store."
            )
        self._id = job_id
        self._base_url = (base_url or record.base_url).rstrip("/")
        self._use_cache = record.use_cache and self._settings.cache
        self._finalize = finalize
        self._limits = limits or Limits()

    # -- what it is ----------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._id

    @property
    def record(self) -> JobRecord:
        record = self._store.get_job(self._id)
        if record is None:
            raise errors.InvalidRequestError(f"Batch job {self._id!r} was deleted from the store.")
        return record

    @property
    def model(self) -> str:
        return self.record.model

    @property
    def index_labels(self) -> list[Any] | None:
        """The row labels given at submit time (the DataFrame index), if any."""
        return self.record.index_labels

    def _endpoint(self, record: JobRecord) -> Endpoint:
        key = self._settings.key_value()
        if key is None and OPENAI_HOST in self._base_url:
            raise errors.ConfigurationError(
                f"Batch job {self._id} runs on {self._base_url}, and no API key is set: set "
                "OPENAI_API_KEY or call llm_magics.configure(api_key=...)."
            )
        return Endpoint(self._base_url, record.model, key or NO_KEY)

    def _context(self) -> JobContext:
        record = self.record
        return JobContext(self._store, record, self._endpoint(record), self._settings,
                          self._use_cache)

    # -- state ---------------------------------------------------------------------------
    def summary(self) -> JobSummary:
        """The state as last seen, from the store only (no request): cheap, for listings."""
        return summarize(self._store, self.record)

    async def astatus(self) -> JobSummary:
        """Refresh from the server: state, counts, cost at batch price and the saving."""
        return await on_loop(lifecycle.refresh(self._context()))

    status = sync_twin(astatus, name="status")

    def done(self) -> bool:
        """True once the job has ended, as last seen (no request)."""
        return self.summary().done

    async def until_done(self, timeout: float | None = None, poll: float | None = None
                         ) -> JobSummary:
        """Poll until every batch has ended; see ``wait``."""
        return await on_loop(self._until_done(timeout, poll))

    async def _until_done(self, timeout: float | None, poll: float | None) -> JobSummary:
        deadline = None if timeout is None else time.monotonic() + timeout
        delays = poll_delays(poll)
        while True:
            summary = await lifecycle.refresh(self._context())
            if summary.done:
                return summary
            delay = next(delays)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise errors.APITimeoutError(
                        f"Batch job {self._id} is still {summary.state} after {timeout:g}s "
                        f"({summary.completed:,}/{summary.total:,} done). It keeps running on "
                        "the server: call job.wait() again, or collect it later with "
                        f"llm_magics.batch.get_job({self._id!r})."
                    )
                delay = min(delay, left)
            await asyncio.sleep(delay)

    def wait(self, timeout: float | None = None, poll: float | None = None) -> BatchJob:
        """Block until the job ends; returns the job, so ``job.wait().results()`` reads well.

        ``poll`` is a fixed interval in seconds; by default polls back off from
        1 s to 60 s. ``timeout`` raises ``APITimeoutError`` if the job is still
        running then. Ctrl-C stops waiting; the batch keeps running.
        """
        run_sync(self._until_done(timeout, poll))
        return self

    # -- results -------------------------------------------------------------------------
    async def aoutcomes(self) -> list[Outcome | None]:
        """One value per input, in input order: ``Response``, ``LLMError``, or ``None``.

        Raises if the job is still running (``wait()`` first, or ``results()``).
        """
        return await on_loop(self._outcomes())

    outcomes = sync_twin(aoutcomes, name="outcomes")

    async def aresults(self, timeout: float | None = None) -> Any:
        """Wait for the end, then the results in input order (or, for a job submitted
        with ``finalize=``, its result: the accessor's Series).

        Each input gets a ``Response``, an ``LLMError`` (the row failed, expired or
        was cancelled: ``retry_failed()`` resends those), or ``None`` (the input
        was ``None``). ``timeout`` raises ``APITimeoutError`` if it is still running.
        """
        await self.until_done(timeout)
        outcomes = await self.aoutcomes()
        return self._finalize(outcomes) if self._finalize is not None else outcomes

    results = sync_twin(aresults, name="results")

    async def _outcomes(self) -> list[Outcome | None]:
        summary = self.summary()
        if not summary.done:
            summary = await lifecycle.refresh(self._context())
        if not summary.done:
            raise errors.LLMError(
                f"Batch job {self._id} is still {summary.state} ({summary.completed:,}/"
                f"{summary.total:,} done): job.wait() waits for it. The batches keep running "
                "on the server either way."
            )
        return await asyncio.to_thread(outcomes_of, self._store, self.record,
                                       self._settings.prices)

    def errors(self) -> dict[int, errors.LLMError]:
        """Input position -> error, for the inputs that got no answer."""
        return {i: o for i, o in enumerate(self.outcomes()) if isinstance(o, errors.LLMError)}

    # -- changing course -----------------------------------------------------------------
    async def acancel(self, now: bool = False) -> JobSummary:
        """Cancel the running batches. Answers already made are kept; the rest are errors.

        A batch is always cancelled on the server, which returns what it already
        answered, so ``now`` (the hard stop of a fan-out) changes nothing here.
        """
        return await on_loop(lifecycle.cancel(self._context()))

    cancel = sync_twin(acancel, name="cancel")

    async def aretry_failed(self) -> BatchJob:
        """Send every input that ended without an answer again, as a new batch of this job.

        Answers already in are kept. Does nothing if every input has an answer.
        Returns the job: ``job.retry_failed().wait().results()``.
        """
        await on_loop(lifecycle.retry(self._context(), self._limits))
        return self

    retry_failed = sync_twin(aretry_failed, name="retry_failed")

    # -- money and history ---------------------------------------------------------------
    @property
    def cost_usd(self) -> float | None:
        """What the answers so far cost at batch price (``None``: the model has no price)."""
        return self.summary().cost_usd

    @property
    def saving_usd(self) -> float | None:
        """How much less than the same answers from sync calls."""
        return self.summary().saving_usd

    def history(self) -> list[tuple[float, str | None, str]]:
        """Every state seen: ``(unix time, batch id or None for the job, state)``."""
        return self._store.history(self._id)

    def __repr__(self) -> str:  # cheap: one row from the store, no request
        record = self._store.get_job(self._id)
        state = record.state if record else "deleted"
        return f"<BatchJob {self._id} {state}>"


def outcomes_of(store: JobStore, record: JobRecord,
                prices: Prices | None = None) -> list[Outcome | None]:
    """The stored results in input order; identical inputs share one ``Response`` object.

    ``prices`` are the user's (the ``prices`` setting), winning over the table."""
    with gc_paused():
        return _outcomes_of(store, record, prices)


def _outcomes_of(store: JobStore, record: JobRecord,
                 prices: Prices | None) -> list[Outcome | None]:
    positions = store.positions(record.id)
    records = store.records(record.id)
    parsed: dict[str, Outcome] = {}
    out: list[Outcome | None] = []
    for entry in positions:
        if entry is None:
            out.append(None)
        elif isinstance(entry, dict):
            out.append(_error_from_entry(entry))
        else:
            outcome = parsed.get(entry)
            if outcome is None:
                raw = records.get(entry)
                outcome = (outcome_from_record(json.loads(raw), record.model, record.base_url,
                                               prices) if raw else errors.ServerError(
                               f"No result was stored for {entry}; job.retry_failed() resends it."))
                parsed[entry] = outcome
            out.append(outcome)
    return out


def _error_from_entry(entry: dict[str, Any]) -> errors.LLMError:
    """A pre-send error kept in the input mapping (empty prompt, bad template...)."""
    cls = getattr(errors, entry.get("type", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.LLMError)):
        cls = errors.LLMError
    err = cls(entry.get("message", "This input could not be sent."))
    err.status_code = entry.get("status_code")
    return err


def error_entry(err: errors.LLMError) -> dict[str, Any]:
    """How a pre-send error is kept in the input mapping."""
    return {"type": type(err).__name__, "message": err.message, "status_code": err.status_code}


def jobs(*, limit: int | None = None, **settings: Any) -> list[JobSummary]:
    """Every job in the store, newest first, as last seen (no request is made)."""
    resolved = resolve(**settings)
    store = get_store(resolved.jobstore_path)
    return [summarize(store, record) for record in store.list_jobs(limit)]


def get_job(job_id: str, *, base_url: str | None = None, **settings: Any) -> BatchJob:
    """The handle of a job in the store, e.g. one submitted before a kernel restart.

    ``base_url`` overrides where the job's batches are (if the server moved);
    the API key and the rest come from ``settings`` as for any call.
    """
    return BatchJob(job_id, settings=resolve(**settings), base_url=base_url)

