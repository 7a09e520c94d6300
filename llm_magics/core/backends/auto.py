"""``mode="auto"``: a layer over the other backends that plans the run, then hands it on.

It prices and times the work (``core.planner``: cached rows are free and
instant), picks ``batch`` or ``async`` for the deadline, warns up front when
the rate limits cannot make it, and starts the chosen backend with the same
``Work``. The job it returns carries ``job.plan``: what was chosen and why.
``plan_work`` is the same planning without starting anything, for
``llm_magics.plan`` and ``df.llm.plan``.
"""

from __future__ import annotations

import asyncio
import warnings

from ... import errors
from ..deadline import time_left
from ..endpoint import Endpoint
from ..engine import get_engine
from ..estimate import estimate_requests
from ..jobs import Job
from ..planner import Plan, Rates, decide
from ..providers import resolve_endpoint
from ..registry import get_backend
from ..settings import Settings
from . import Work

__all__ = ["AutoBackend", "plan_work", "rates_for"]


def rates_for(work: Work) -> Rates:
    """The limits ``work`` runs under: its settings, else what this process's limiter for
    the endpoint already holds (set by an earlier call, or learned from the server's
    ``x-ratelimit-*`` headers), within the calls in flight its server takes."""
    settings, endpoint = work.settings, work.endpoint
    known = get_engine().limiters.get((endpoint.base_url, endpoint.model))
    held = known.snapshot() if known is not None else {}
    workers = endpoint.workers_for(work.concurrency or settings.concurrency)
    return Rates(rpm=settings.rpm or held.get("rpm"), tpm=settings.tpm or held.get("tpm"),
                 workers=workers)


def plan_work(work: Work, mode: str = "auto", *, exact: bool = True,
              max_cost_usd: float | None = None) -> Plan:
    """The plan for ``work`` without sending anything (reads the cache: call off the loop).

    ``exact=False`` when the endpoint is a stand-in (the local model is not
    started for a plan): its cache entries cannot match, so none are counted.
    """
    cache = get_engine().cache_for(work.settings, work.use_cache) if exact else None
    estimate = estimate_requests(work.requests, model=work.endpoint.model, cache=cache,
                                 prices=work.settings.prices)
    if max_cost_usd is None:
        max_cost_usd = work.settings.max_cost_usd  # the cap a run with these settings keeps
    return decide(estimate, rates_for(work), deadline_s=time_left(work.deadline_at),
                  has_batch_api=work.endpoint.has_batch_api, mode=mode,
                  max_cost_usd=max_cost_usd)


class AutoBackend:
    name = "auto"
    returns_at_once = False
    """Decided per run: ``pipeline.hands_back_at_once`` reads the chosen mode off ``job.plan``."""

    def endpoint_for(self, settings: Settings) -> Endpoint:
        return resolve_endpoint(settings)

    async def start(self, work: Work) -> Job:
        plan = await asyncio.to_thread(plan_work, work)
        if plan.warning:
            warnings.warn(f"mode='auto': {plan.warning}", errors.DeadlineWarning, stacklevel=2)
        job = await get_backend(plan.choice).start(work)
        job.plan = plan  # type: ignore[attr-defined]
        return job
