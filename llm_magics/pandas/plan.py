"""An apply, worked out before it runs: rows rendered, then the core's seam.

Everything that can fail without sending anything fails here: a bad ``errors=``
or ``mode=``, a template naming a missing column, an unusable schema, a bad
setting. So a typo costs an exception, not a 10,000-row fan-out of errors.
Settings, endpoint and requests come from ``core.pipeline`` like every other
face's; the same plan feeds every mode (``core.backends``) and ``estimate()``.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from .. import errors
from ..core.backends import Work, get_backend
from ..core.history.context import as_face
from ..core.loop_thread import run_sync
from ..core.pipeline import (
    Call,
    build_requests,
    hands_back_at_once,
    plan_call,
    resolve_call,
    start,
)
from ..core.structured import StructuredOutput, structured_output
from ..core.types import Request
from .results import RowError, assemble, raise_for_errors, remember_errors
from .templates import Rendered, Template, render_frame, render_series

__all__ = ["ApplyPlan", "build_plan", "render", "run", "ErrorsPolicy"]

ErrorsPolicy = Literal["coerce", "raise"]
_ERRORS = ("coerce", "raise")
_TITLE_CHARS = 40


@dataclass
class ApplyPlan:
    """What a mode needs to run an apply and turn its outcomes into a result."""

    requests: list[Request | errors.LLMError | None]
    index: pd.Index
    call: Call
    mode: str = "async"
    use_cache: bool | None = None
    structured: StructuredOutput | None = None
    errors: ErrorsPolicy = "coerce"
    title: str = ""
    name: Hashable = None
    source: weakref.ref[Any] | None = field(default=None, repr=False)
    deadline_at: float | None = None
    pack: int | str | None = None

    def finalize(self, outcomes: list[Any]) -> pd.Series | pd.DataFrame:
        """Outcomes in row order -> the result; records (and for ``"raise"`` raises) failures."""
        result, row_errors = assemble(outcomes, self.index, structured=self.structured,
                                      name=self.name)
        result.attrs["llm_errors"] = row_errors
        source = self.source() if self.source is not None else None
        if source is not None:
            remember_errors(source, row_errors)
        if self.errors == "raise":
            raise_for_errors(row_errors, len(outcomes))
        return result


def render(source: pd.DataFrame | pd.Series, template: Template) -> Rendered:
    if isinstance(source, pd.DataFrame):
        return render_frame(source, template)
    return render_series(source, template)


def check_errors_policy(policy: str) -> None:
    if policy not in _ERRORS:
        raise errors.InvalidRequestError(
            f"errors={policy!r}: use 'coerce' (NA in failed rows, listed in .llm.last_errors) "
            "or 'raise' (raise after the run, finished rows cached)."
        )


def with_schema(options: dict[str, Any], schema: Any) -> StructuredOutput | None:
    """Turn ``schema=`` into ``response_format`` in ``options``; ``None`` without a schema."""
    if schema is None:
        return None
    if options.get("response_format") is not None:
        raise errors.InvalidRequestError(
            "Pass either schema= or response_format=, not both: schema= builds the "
            "response_format and checks every answer against it."
        )
    structured = structured_output(schema)
    options["response_format"] = structured.response_format
    return structured


def title_for(template: Template) -> str:
    if callable(template):
        return f"llm.apply({getattr(template, '__name__', 'function')})"
    text = template if len(template) <= _TITLE_CHARS else template[: _TITLE_CHARS - 1] + "…"
    return f"llm.apply({text!r})"


def build_plan(
    source: pd.DataFrame | pd.Series,
    template: Template,
    *,
    system: str | None,
    schema: Any,
    mode: str,
    cache: bool | None,
    errors_policy: str,
    options: dict[str, Any],
    deadline_at: float | None = None,
    pack: int | str | None = None,
) -> ApplyPlan:
    """Check, render and resolve everything; raise before any call if something is wrong."""
    check_errors_policy(errors_policy)
    get_backend(mode)  # an unknown mode fails before anything is rendered or resolved
    rendered = render(source, template)
    options = dict(options)
    structured = with_schema(options, schema)
    call = run_sync(resolve_call(options, mode))
    requests = build_requests(rendered, call, system=system, none_sends_nothing=True)
    if errors_policy == "raise":  # nothing is sent when rows are already known to be bad
        early = [(i, r) for i, r in enumerate(requests) if isinstance(r, errors.LLMError)]
        if early:
            raise_for_errors([RowError(i, source.index[i], r) for i, r in early], len(requests))
    return ApplyPlan(
        requests=requests,
        index=source.index,
        call=call,
        mode=mode,
        use_cache=cache,
        structured=structured,
        errors=errors_policy,  # type: ignore[arg-type]
        title=title_for(template),
        name=source.name if isinstance(source, pd.Series) else None,
        source=weakref.ref(source),
        deadline_at=deadline_at,
        pack=pack,
    )


def build_estimate_requests(
    source: pd.DataFrame | pd.Series,
    template: Template,
    *,
    system: str | None,
    schema: Any,
    options: dict[str, Any],
) -> tuple[list[Request | errors.LLMError | None], Call, bool]:
    """The requests an apply would send, resolved without any I/O (no local model start)."""
    rendered = render(source, template)
    options = dict(options)
    with_schema(options, schema)
    call, exact = plan_call(options)
    return build_requests(rendered, call, system=system, none_sends_nothing=True), call, exact


def run(plan: ApplyPlan, *, progress: bool, background: bool) -> Any:
    """Hand the plan to its mode's backend: the result, or the handle for work that runs on.

    A batch always returns its handle (it may take hours), and so does
    ``mode="auto"`` when it chose batch; ``%llm_batch status`` shows it live and
    the job store keeps it across kernel restarts.
    """
    work = Work(plan.requests, plan.call.settings, plan.call.endpoint, use_cache=plan.use_cache,
                concurrency=plan.call.settings.concurrency, title=plan.title, progress=progress,
                background=background, keep_raw=False, finalize=plan.finalize,
                index_labels=list(plan.index), metadata={"source": plan.title},
                deadline_at=plan.deadline_at, pack=plan.pack)
    plan.requests = []  # the backend holds them now, and lets go when it finishes
    with as_face("apply"):
        job = run_sync(start(work, plan.mode))
    if background or hands_back_at_once(job, plan.mode):
        return job
    return job.results()
