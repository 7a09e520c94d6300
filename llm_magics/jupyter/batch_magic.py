"""``%llm_batch``: submit, follow and collect OpenAI Batch API jobs from a notebook.

    %llm_batch submit prompts --out job                   # a list (or Series) of prompts
    %llm_batch submit df --template "Translate {text}"    # one prompt per DataFrame row
    %llm_batch status                                     # live tracker for recent jobs
    %llm_batch status job                                 # ... for one (a variable or an id)
    %llm_batch results job --out answers                  # Response/LLMError per input, in order
    %llm_batch retry job | cancel job | list

A thin face over ``core.batch``: the job lives in the job store, so ``list``,
``status`` and ``results`` work in a kernel started after the submit. Every
failure is one line (``cell_error``). ``load_ipython_extension`` is here too,
so ``%load_ext llm_magics.jupyter.batch_magic`` works on its own.
"""

from __future__ import annotations

import html
import keyword
import os
import re
from collections.abc import Sequence
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ..core.batch import BatchJob, JobSummary, get_job, jobs, submit_prompts
from ..core.batch.summary import format_money
from ..core.history.context import as_face
from ..core.progress import format_duration
from ..errors import LLMError, TemplateError
from .cell_error import CellError
from .template import interpolate

__all__ = ["BatchMagics", "register", "unregister", "load_ipython_extension",
           "unload_ipython_extension", "ACTIONS", "RECENT_JOBS"]

ACTIONS = ("submit", "status", "results", "retry", "cancel", "list")
RECENT_JOBS = 10
"""Jobs ``%llm_batch status`` and ``list`` show when no job is named."""
_NO_WIDGETS_ENV = "LLM_MAGICS_NO_WIDGETS"
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)")
"""The root name of each ``{name...}`` placeholder (``{{`` is a literal brace)."""


@magics_class
class BatchMagics(Magics):
    """The ``%llm_batch`` line magic."""

    @magic_arguments()
    @argument("action", nargs="?", choices=ACTIONS, help="What to do (see above).")
    @argument("target", nargs="?",
              help="submit: a variable holding prompts or a DataFrame; otherwise a job: a "
              "variable holding a BatchJob, or a job id (default for status/list: recent jobs).")
    @argument("-t", "--template",
              help='submit from a DataFrame: a prompt per row, e.g. "Translate {text}".')
    @argument("-m", "--model", help="Model name (default: the configured model).")
    @argument("-s", "--system", help='System prompt; quote it: -s "Answer in French."')
    @argument("-o", "--out", metavar="VAR",
              help="submit: store the BatchJob here; results: store the results here.")
    @argument("--poll", type=float, metavar="SECONDS",
              help="status: fixed seconds between polls (default: 1 s doubling to 60 s).")
    @argument("--no-cache", action="store_true", dest="no_cache",
              help="submit: send every prompt, even ones already answered in the cache.")
    @argument("--max-cost", type=float, dest="max_cost", metavar="USD",
              help="submit: refuse the job if it could cost more than this at batch prices.")
    @argument("--no-widget", action="store_true", dest="no_widget",
              help=f"status: a line per job instead of the tracker (also {_NO_WIDGETS_ENV}=1).")
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @line_magic
    def llm_batch(self, line: str) -> None:
        """Submit prompts to the OpenAI Batch API (half price, 24 h window) and follow them.

        %llm_batch submit VAR [--template T] [-m MODEL] [--out JOB]
        %llm_batch status [JOB] [--poll S]   live tracker (kernel stays free)
        %llm_batch results JOB --out VAR     Response or LLMError per input, in order
        %llm_batch retry JOB                 resend inputs that failed or expired
        %llm_batch cancel JOB
        %llm_batch list                      every job, also from earlier kernels
        """
        args = parse_argstring(self.llm_batch, line)
        if args.help or args.action is None:
            print(self.llm_batch.__doc__)
            return
        args.template, args.system = unquote(args.template), unquote(args.system)
        if args.out is not None and (not args.out.isidentifier() or keyword.iskeyword(args.out)):
            raise UsageError(f"--out needs a variable name, got {args.out!r}.")
        try:
            getattr(self, f"_{args.action}")(args)
        except LLMError as err:
            raise CellError.from_error(err) from None
        except KeyboardInterrupt:
            raise CellError("KeyboardInterrupt: stopped waiting; the batch keeps running on "
                            "the server.") from None

    # -- actions ----------------------------------------------------------------------------
    def _submit(self, args: Any) -> None:
        if not args.target:
            raise UsageError("Name the prompts: %llm_batch submit VAR (a list, a Series, or a "
                             "DataFrame with --template).")
        prompts, labels = prompts_from(self._value(args.target), args.template, args.target)
        with as_face("magic"):
            job = submit_prompts(
                prompts, model=args.model, system=args.system,
                cache=False if args.no_cache else None, index_labels=labels,
                max_cost_usd=args.max_cost,
                metadata={"source": f"%llm_batch submit {args.target}"},
            )
        if args.out:
            self.shell.user_ns[args.out] = job
        summary = job.summary()
        where = f" in {args.out}" if args.out else ""
        print(f"llm_batch: submitted {job.id}{where}: {summary.total:,} requests for "
              f"{summary.rows:,} inputs in {summary.batches} batch(es), {summary.cached:,} from "
              f"the cache. %llm_batch status {args.out or job.id} follows it.")

    def _status(self, args: Any) -> None:
        targets = [self._job(args.target)] if args.target else recent_jobs()
        if self.widgets_enabled(args.no_widget):
            from .batch_tracker import BatchTracker  # ipywidgets loads on first use only

            display(BatchTracker(targets, poll=args.poll))
            return
        if not targets:
            print("llm_batch: no batch jobs yet.")
        for job in targets:
            print(job.status().describe())

    def _results(self, args: Any) -> None:
        if not args.out:
            raise UsageError("Say where to put them: %llm_batch results JOB --out VAR.")
        job = self._job(args.target)
        results = job.outcomes()  # raises with "job.wait()" while it runs: a magic never blocks
        self.shell.user_ns[args.out] = results
        answered = sum(1 for r in results if r is not None and not isinstance(r, LLMError))
        failed = sum(1 for r in results if isinstance(r, LLMError))
        print(f"llm_batch: {args.out} = {len(results):,} results of {job.id}: {answered:,} "
              f"answers, {failed:,} errors, {len(results) - answered - failed:,} empty.")

    def _retry(self, args: Any) -> None:
        job = self._job(args.target)
        before = job.summary().batches
        summary = job.retry_failed().summary()
        sent = summary.batches - before
        print(f"llm_batch: {job.id}: " + (f"resent the failed inputs in {sent} new batch(es)."
                                          if sent else "nothing to retry."))

    def _cancel(self, args: Any) -> None:
        job = self._job(args.target)
        print(f"llm_batch: cancel requested. {job.cancel().describe()}")

    def _list(self, args: Any) -> None:
        display(jobs_bundle(jobs()), raw=True)

    # -- helpers ----------------------------------------------------------------------------
    def _value(self, name: str) -> Any:
        if name not in self.shell.user_ns:
            raise UsageError(f"There is no variable {name!r} in the notebook.")
        return self.shell.user_ns[name]

    def _job(self, target: str | None) -> BatchJob:
        """A job from a variable holding one, or from its id in the store."""
        if not target:
            raise UsageError("Name the job: a variable holding a BatchJob, or its id "
                             "(%llm_batch list shows them).")
        value = self.shell.user_ns.get(target)
        if isinstance(value, BatchJob):
            return value
        return get_job(target)

    def widgets_enabled(self, no_widget: bool = False) -> bool:
        """The tracker only where a widget can render: inside a kernel, unless switched off."""
        if no_widget or os.environ.get(_NO_WIDGETS_ENV, "").strip().lower() in ("1", "true",
                                                                                 "yes"):
            return False
        from .magics import loaded

        llm = loaded.get(id(self.shell))
        if llm is not None:
            return llm.widgets_enabled()
        return getattr(self.shell, "kernel", None) is not None


def unquote(value: str | None) -> str | None:
    """Drop one pair of matching quotes: IPython's magic parser keeps them in the value."""
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def recent_jobs(limit: int = RECENT_JOBS) -> list[BatchJob]:
    return [get_job(s.id) for s in jobs(limit=limit)]


def prompts_from(value: Any, template: str | None, name: str
                 ) -> tuple[list[Any], list[Any] | None]:
    """Prompts (and row labels) from a list, a Series, or a DataFrame with a template."""
    if _is_pandas(value, "DataFrame"):
        if not template:
            raise UsageError(f"{name} is a DataFrame: say what to send per row with "
                             '--template "Translate {column}".')
        return render_rows(value, template), list(value.index)
    if template:
        raise UsageError("--template works with a DataFrame; for a list, build the prompts "
                         "first: prompts = [f'... {x}' for x in items].")
    if _is_pandas(value, "Series"):
        return [None if _is_missing(v) else v for v in value.tolist()], list(value.index)
    if isinstance(value, (list, tuple)):
        return list(value), None
    raise UsageError(f"{name} is a {type(value).__name__}; %llm_batch submit takes a list of "
                     "prompts (or message lists), a Series, or a DataFrame with --template.")


def render_rows(df: Any, template: str) -> list[str | LLMError | None]:
    """One prompt per row; a missing value in a column the template uses sends nothing.

    The template is checked on the first row's columns before anything is sent,
    so a typo fails the cell instead of every row.
    """
    columns = [str(c) for c in df.columns]
    try:
        interpolate(template, dict.fromkeys(columns, ""))
    except TemplateError as err:
        raise TemplateError(f"{err.message} Columns: {', '.join(map(repr, columns))}.") from None
    used = set(_PLACEHOLDER.findall(template))
    prompts: list[str | LLMError | None] = []
    for row in df.to_dict("records"):
        namespace = {str(k): v for k, v in row.items()}
        if any(_is_missing(namespace[k]) for k in used if k in namespace):
            prompts.append(None)
            continue
        try:
            prompts.append(interpolate(template, namespace))
        except TemplateError as err:
            prompts.append(err)
    return prompts


def _is_pandas(value: Any, kind: str) -> bool:
    cls = type(value)
    return cls.__module__.split(".", 1)[0] == "pandas" and cls.__name__ == kind


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return type(value).__name__ == "NAType"


def jobs_bundle(summaries: Sequence[JobSummary]) -> dict[str, str]:
    """The job list as aligned text and an HTML table (every value escaped)."""
    if not summaries:
        return {"text/plain": "llm_batch: no batch jobs yet.",
                "text/html": "<i>No batch jobs yet.</i>"}
    head = ("job", "state", "done", "failed", "total", "model", "elapsed", "cost", "saved")
    rows = [(s.id, s.state, f"{s.completed:,}", f"{s.failed:,}", f"{s.total:,}", s.model,
             format_duration(s.elapsed_s), format_money(s.cost_usd),
             format_money(s.saving_usd)) for s in summaries]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    text = "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in (head, *rows))
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                    for r in rows)
    header = "".join(f"<th>{h}</th>" for h in head)
    return {"text/plain": text,
            "text/html": f"<table><thead><tr>{header}</tr></thead><tbody>{cells}</tbody></table>"}


_registered: dict[int, BatchMagics] = {}


def register(shell: Any) -> BatchMagics:
    """Add ``%llm_batch`` to ``shell`` (idempotent): what ``%load_ext llm_magics`` calls."""
    magics = _registered.get(id(shell))
    if magics is None:
        magics = _registered[id(shell)] = BatchMagics(shell=shell)
        shell.register_magics(magics)
    return magics


def unregister(shell: Any) -> None:
    if _registered.pop(id(shell), None) is not None:
        shell.magics_manager.magics["line"].pop("llm_batch", None)


load_ipython_extension = register
unload_ipython_extension = unregister
