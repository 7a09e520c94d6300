"""A job submitted in one Python process is found and collected in another, from the store.

The submitting process exits before the batch ends and never polls; the
second process gets no base URL (the store has it), only the key, which the
store never holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from batch_helpers import API_KEY, MODEL, chat_body

from llm_magics.server.sim import expected_answer

REPO = Path(__file__).resolve().parents[2]

SUBMIT = f"""
import llm_magics.batch as batch
prompts = [f"restart-proof {{i}}" for i in range(5)] + [None]
job = batch.submit(prompts, model="{MODEL}", cache=False)
print(job.id, job.summary().state)
"""

COLLECT = """
import json, sys
import llm_magics.batch as batch
listed = [s.id for s in batch.jobs()]
job = batch.get_job(sys.argv[1])
results = job.wait(poll=0.02).results()
summary = job.status()
print(json.dumps({"listed": listed, "state": summary.state, "base_url": summary.base_url,
                  "texts": [None if r is None else r.text for r in results],
                  "cost": summary.cost_usd, "saving": summary.saving_usd}))
"""


def run(code: str, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_submit_in_one_process_and_collect_in_another(sim, tmp_path):
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("LLM_MAGICS_") and k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    base["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), base.get("PYTHONPATH")) if p)
    base["LLM_MAGICS_JOBSTORE_PATH"] = str(tmp_path / "jobs.sqlite")
    base["LLM_MAGICS_CACHE_PATH"] = str(tmp_path / "cache.sqlite")
    sim.configure(batch_step_s=0.2)  # the first process is long gone before the batch ends

    submit_env = {**base, "OPENAI_BASE_URL": sim.base_url, "OPENAI_API_KEY": API_KEY}
    job_id, state = run(SUBMIT, submit_env).split()
    assert job_id.startswith("job_") and state == "validating"

    collect_env = {**base, "OPENAI_API_KEY": API_KEY}  # no base URL: it comes from the store
    out = json.loads(run(COLLECT, collect_env, job_id).strip().splitlines()[-1])
    assert out["listed"] == [job_id]
    assert out["state"] == "completed" and out["base_url"] == sim.base_url
    prompts = [f"restart-proof {i}" for i in range(5)]
    assert out["texts"] == [expected_answer(chat_body(p)) for p in prompts] + [None]
    assert out["saving"] > 0 and out["cost"] == pytest.approx(out["saving"])  # half price
