"""The OpenAI Batch API path of the core: JSONL in, half-price answers out, in input order.

    >>> from llm_magics.core.batch import submit_prompts
    >>> job = submit_prompts(["Define cat", "Define dog"])      # doctest: +SKIP
    >>> job.wait().results()                                    # doctest: +SKIP

Modules, one job each: ``constants`` (limits, poll schedule), ``jsonl``
(lines and records), ``split`` (cutting a job into batches), ``api`` (Files and
Batches calls under the retry policy), ``lifecycle`` (submit, poll, download,
retry, cancel), ``summary`` (a job's state in numbers), ``poll`` (how long to
wait), ``job`` (the ``BatchJob`` handle, ``jobs()``, ``get_job()``) and
``submit`` (the three ways in). Jobs live in ``core.jobstore``.

No IPython, widget or pandas import here: scripts and workers use it as is.
"""

from __future__ import annotations

from . import submit
from .constants import MAX_BYTES_PER_BATCH, MAX_REQUESTS_PER_BATCH, TERMINAL_STATES
from .job import BatchJob, get_job, jobs
from .lifecycle import Limits
from .poll import poll_delays
from .submit import *  # noqa: F403 - the six ways in, named once in submit.__all__
from .summary import JobSummary

__all__ = [
    *submit.__all__,
    "BatchJob",
    "JobSummary",
    "Limits",
    "jobs",
    "get_job",
    "poll_delays",
    "MAX_REQUESTS_PER_BATCH",
    "MAX_BYTES_PER_BATCH",
    "TERMINAL_STATES",
]
