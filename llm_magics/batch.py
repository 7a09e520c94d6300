"""``llm_magics.batch``: the OpenAI Batch API from a script or a notebook, at half price.

    import llm_magics.batch as batch

    job = batch.submit([f"Translate to French: {w}" for w in words])
    job.status().describe()          # state, counts, cost at batch price, saving vs sync
    answers = job.wait().results()   # a Response or an LLMError per prompt, in input order
    batch.jobs()                     # every job, also from earlier kernels
    batch.get_job("job_...").results()   # after a restart, from the job store

Jobs are recorded in ``settings.jobstore_path`` (SQLite; never the API key),
so a batch submitted before a kernel restart can be followed and collected
after it. In a notebook, ``%llm_batch status`` shows a live tracker.
"""

from __future__ import annotations

from .core.batch import (
    BatchJob,
    JobSummary,
    asubmit_jsonl,
    asubmit_prompts,
    get_job,
    jobs,
    submit_jsonl,
)
from .core.batch import submit_prompts as submit

asubmit = asubmit_prompts

__all__ = ["submit", "asubmit", "submit_jsonl", "asubmit_jsonl", "jobs", "get_job", "BatchJob",
           "JobSummary"]


def main(argv: list[str] | None = None) -> int:
    """``llm-magics jobs``: list the batch jobs in the job store, newest first."""
    import argparse

    parser = argparse.ArgumentParser(prog="llm-magics jobs", description=main.__doc__)
    parser.add_argument("--limit", type=int, default=20, help="most jobs to list")
    args = parser.parse_args(argv)
    found = jobs(limit=args.limit)
    if not found:
        print("no batch jobs yet: submit one with llm_magics.batch.submit() or %llm_batch submit")
    for summary in found:
        print(summary.describe())
    return 0
