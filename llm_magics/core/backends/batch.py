"""``mode="batch"``: the OpenAI Batch API, half price, answers within the batch window.

``start`` uploads and creates the batches and returns the ``BatchJob`` at once;
the job store keeps it across kernel restarts (``core.batch``). With a
deadline the batch is watched and given up on in time (``deadline_batch``).
"""

from __future__ import annotations

from ... import errors
from ..batch.job import BatchJob
from ..batch.submit import asubmit_requests
from ..endpoint import Endpoint
from ..jobs import Job
from ..providers import needs_provider, resolve_endpoint
from ..settings import Settings
from . import Work
from .deadline_batch import start_watched_batch

__all__ = ["BatchBackend"]

_NO_BATCH_API = (
    "The Batch API needs an OpenAI-compatible server that has it: set OPENAI_API_KEY "
    "(and OPENAI_BASE_URL for another server), or llm_magics.configure(base_url=..., "
    "api_key=...). {what} has no Batch API; use mode='async'."
)


class BatchBackend:
    name = "batch"
    returns_at_once = True

    def endpoint_for(self, settings: Settings) -> Endpoint:
        if needs_provider(settings):  # refuse before starting a model that cannot batch
            raise errors.ConfigurationError(_NO_BATCH_API.format(what="The default provider"))
        endpoint = resolve_endpoint(settings)
        if not endpoint.has_batch_api:
            raise errors.ConfigurationError(_NO_BATCH_API.format(what=endpoint.base_url))
        return endpoint

    async def start(self, work: Work) -> BatchJob | Job:
        if work.deadline_at is not None:
            return await start_watched_batch(work)
        return await asubmit_requests(
            work.requests, work.endpoint, work.settings, use_cache=work.use_cache,
            index_labels=work.index_labels, metadata=work.metadata, finalize=work.finalize)
