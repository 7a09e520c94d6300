"""``%llm_batch`` through a real IPython shell against the simulator."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from batch_helpers import POLL, batch_lines, chat_body
from IPython.terminal.interactiveshell import TerminalInteractiveShell
from IPython.testing.tools import default_config
from IPython.utils.capture import capture_output

from llm_magics import Response, errors
from llm_magics.core.batch import BatchJob
from llm_magics.jupyter import batch_magic
from llm_magics.jupyter.extension import magics_for
from llm_magics.server.sim import expected_answer

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def shell() -> Any:
    """IPython's test shell, the singleton ``globalipapp`` also uses.

    Not ``globalipapp.get_ipython()``: only its first caller gets the shell (a
    stale reference to it returns None), which would break whichever test
    directory asks second.
    """
    config = default_config()
    config.TerminalInteractiveShell.simple_prompt = True
    ip = TerminalInteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "llm_magics")
    batch_magic.register(ip)
    return ip


@pytest.fixture
def ip(shell: Any, llm) -> Any:
    for name in ("prompts", "job", "answers", "df", "s"):
        shell.user_ns.pop(name, None)
    return shell


def run(ip: Any, source: str) -> tuple[Any, Any]:
    with capture_output() as captured:
        result = ip.run_cell(source)
    return result, captured


def ok(ip: Any, source: str) -> str:
    result, captured = run(ip, source)
    assert result.error_in_exec is None, captured.stdout + captured.stderr
    return captured.stdout


def error_line(ip: Any, source: str) -> tuple[BaseException, str]:
    result, captured = run(ip, source)
    assert result.error_in_exec is not None, captured.stdout
    return result.error_in_exec, captured.stdout + captured.stderr


def test_register_is_idempotent_and_help_lists_the_actions(shell):
    assert batch_magic.register(shell) is batch_magic.register(shell)
    out = ok(shell, "%llm_batch --help")
    for action in ("submit", "status", "results", "retry", "cancel", "list"):
        assert f"%llm_batch {action}" in out
    assert ok(shell, "%llm_batch") == out


def test_submit_a_list_then_collect_the_results(ip):
    ip.user_ns["prompts"] = ["Translate cat", None, "Translate dog"]
    out = ok(ip, "%llm_batch submit prompts --out job")
    job = ip.user_ns["job"]
    assert isinstance(job, BatchJob)
    assert f"submitted {job.id} in job: 2 requests for 3 inputs in 1 batch(es)" in out
    job.wait(poll=POLL)
    out = ok(ip, "%llm_batch results job --out answers")
    cat, nothing, dog = ip.user_ns["answers"]
    assert isinstance(cat, Response) and cat.text == expected_answer(chat_body("Translate cat"))
    assert nothing is None and dog.text == expected_answer(chat_body("Translate dog"))
    assert "answers = 3 results" in out and "2 answers, 0 errors, 1 empty" in out


def test_submit_a_dataframe_with_a_template(ip):
    ip.user_ns["df"] = pd.DataFrame({"text": ["chat", None, "chien"], "n": [1, 2, 3]},
                                    index=["a", "b", "c"])
    ok(ip, '%llm_batch submit df --template "Translate {text} ({n})" -m gpt-4o-mini --out job')
    job = ip.user_ns["job"]
    assert job.index_labels == ["a", "b", "c"]
    results = job.wait(poll=POLL).results()
    assert [r.text if r else r for r in results] == [
        expected_answer(chat_body("Translate chat (1)")), None,
        expected_answer(chat_body("Translate chien (3)"))]


def test_a_template_typo_fails_the_cell_before_anything_is_sent(ip, llm):
    ip.user_ns["df"] = pd.DataFrame({"text": ["chat"]})
    err, out = error_line(ip, '%llm_batch submit df --template "Translate {txt}"')
    assert "TemplateError" in out and "'text'" in out and "Traceback" not in out
    assert llm.stats["batches"].get("created", 0) == 0


def test_submit_a_series_keeps_its_labels(ip):
    ip.user_ns["s"] = pd.Series(["un", "deux"], index=[10, 20])
    ok(ip, "%llm_batch submit s --no-cache --out job")
    assert ip.user_ns["job"].index_labels == [10, 20]


def test_status_without_a_kernel_prints_one_line_per_job(ip):
    ip.user_ns["prompts"] = ["status me"]
    ok(ip, "%llm_batch submit prompts --out job")
    job = ip.user_ns["job"].wait(poll=POLL)
    out = ok(ip, f"%llm_batch status {job.id}")
    assert out.startswith(f"{job.id} completed · 1/1 done, 0 failed")
    assert f"{job.id} completed" in ok(ip, "%llm_batch status")


def test_status_in_a_notebook_shows_the_tracker_and_returns_at_once(ip):
    magics = magics_for(ip)
    magics.widgets = "always"
    try:
        ip.user_ns["prompts"] = ["widget me"]
        ok(ip, "%llm_batch submit prompts --out job")
        result, captured = run(ip, "%llm_batch status job --poll 0.02")
    finally:
        magics.widgets = "auto"
    assert result.error_in_exec is None
    [shown] = [o for o in captured.outputs if WIDGET in o.data]
    assert "BatchTracker(" in shown.data["text/plain"]
    assert ip.user_ns["job"].wait(poll=POLL).status().state == "completed"


def test_list_shows_every_job_as_a_table(ip):
    ip.user_ns["prompts"] = ["list me"]
    ok(ip, "%llm_batch submit prompts --out job")
    job = ip.user_ns["job"]
    result, captured = run(ip, "%llm_batch list")
    [table] = captured.outputs
    assert job.id in table.data["text/plain"] and "state" in table.data["text/plain"]
    assert f"<td>{job.id}</td>" in table.data["text/html"]


def test_retry_resends_what_expired(ip, llm):
    llm.configure(batch_expire_after_fraction=0.5)
    ip.user_ns["prompts"] = ["r1", "r2", "r3", "r4"]
    ok(ip, "%llm_batch submit prompts --out job")
    job = ip.user_ns["job"].wait(poll=POLL)
    assert job.status().state == "expired"
    llm.configure(batch_expire_after_fraction=None)
    assert "resent the failed inputs in 1 new batch(es)" in ok(ip, "%llm_batch retry job")
    assert job.wait(poll=POLL).status().state == "completed"
    assert "nothing to retry" in ok(ip, "%llm_batch retry job")
    assert batch_lines(llm) == 4


def test_cancel_by_job_id(ip, llm):
    llm.configure(batch_step_s=0.3)
    ip.user_ns["prompts"] = ["c1", "c2"]
    ok(ip, "%llm_batch submit prompts --out job")
    job = ip.user_ns["job"]
    out = ok(ip, f"%llm_batch cancel {job.id}")
    assert out.startswith(f"llm_batch: cancel requested. {job.id} cancel")
    assert job.wait(poll=POLL).status().state == "cancelled"
    assert all(isinstance(r, errors.CancelledError) for r in job.results())


def test_quoted_system_prompt_reaches_the_request(ip):
    ip.user_ns["prompts"] = ["quoted"]
    ok(ip, "%llm_batch submit prompts -s 'Answer in French.' --no-cache --out job")
    [answer] = ip.user_ns["job"].wait(poll=POLL).results()
    assert answer.text == expected_answer(chat_body("quoted", system="Answer in French."))


def test_mistakes_are_one_line(ip):
    err, out = error_line(ip, "%llm_batch submit missing_var")
    assert "no variable 'missing_var'" in out
    err, out = error_line(ip, "%llm_batch status job_nope")
    assert out.strip().startswith("InvalidRequestError: No batch job 'job_nope'")
    assert "Traceback" not in out
    err, out = error_line(ip, "%llm_batch results job_nope")
    assert "--out VAR" in out
    ip.user_ns["prompts"] = 42
    err, out = error_line(ip, "%llm_batch submit prompts")
    assert "takes a list of prompts" in out


def test_results_of_a_running_job_say_to_wait(ip, llm):
    llm.configure(batch_step_s=0.15)
    ip.user_ns["prompts"] = ["not yet"]
    ok(ip, "%llm_batch submit prompts --out job")
    err, out = error_line(ip, "%llm_batch results job --out answers")
    assert "is still validating" in out and "job.wait()" in out
    assert isinstance(err.cause, errors.LLMError)
    ip.user_ns["job"].wait(poll=POLL)


def test_unregister_removes_the_magic(shell):
    batch_magic.unregister(shell)
    try:
        assert "llm_batch" not in shell.magics_manager.magics["line"]
    finally:
        batch_magic.register(shell)
    assert "llm_batch" in shell.magics_manager.magics["line"]


def test_submit_with_max_cost_refuses_a_job_that_could_cost_more(ip, llm):
    ip.user_ns["prompts"] = [f"capped magic {i}" for i in range(5)]
    result, out = run(ip, "%llm_batch submit prompts --max-cost 0.000001 --out job")
    assert not result.success and "BudgetExceededError" in out.stdout + out.stderr
    assert "job" not in ip.user_ns and llm.stats["batches"].get("created", 0) == 0
    result, _ = run(ip, "%llm_batch submit prompts --max-cost 1 --out job")
    assert result.success and isinstance(ip.user_ns["job"], BatchJob)
