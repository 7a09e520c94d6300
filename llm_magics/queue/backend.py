"""``mode="queue"``: the fan-out backend whose calls run on Celery workers.

Registered with the core's backend registry by the package wiring, so
``map(mode="queue")`` and ``df.llm.apply(mode="queue")`` reach it by name and
the core never imports this package. Dedupe and the cache lookup happen in the
core before anything is queued; here the pending requests become tasks
(``submit.arun_requests``), and their answers are stored in this process's cache as
they come back.
"""

from __future__ import annotations

from ..core.backends import Work
from ..core.backends.fanout import FanoutBackend
from ..core.endpoint import Endpoint
from ..core.jobs import FanoutJob
from ..core.providers import keyless_endpoint
from ..core.requestset import RequestSet
from ..core.settings import Settings
from .submit import arun_requests

__all__ = ["QueueBackend"]


class QueueBackend(FanoutBackend):
    """Calls on ``llm-magics worker`` processes; the key stays with the workers."""

    name = "queue"

    def endpoint_for(self, settings: Settings) -> Endpoint:
        """No key and no model start here: set ``base_url`` to what the workers serve."""
        return keyless_endpoint(settings)

    async def execute(self, requests: RequestSet, work: Work, job: FanoutJob) -> None:
        await arun_requests(requests, work.settings, use_cache=work.use_cache,
                            should_stop=lambda: job.cancel_requested,
                            deadline_at=work.deadline_at)
