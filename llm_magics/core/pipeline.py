"""The seam every face goes through: resolve once, build requests, hand them to a backend.

    face (magic, map(), df.llm.apply, %llm_batch, the queue)
      -> resolve_call(options, mode)     settings + endpoint, once per face call
      -> build_requests(items, call)     one per prompt/row; a bad one is an error in its slot
      -> start(work, mode)               the backend by name (core.backends); dedupe + cache
                                         lookup happen there, before anything is sent
      -> a handle (core.jobs.Job): status(), cancel(), wait(), results() in input order

Faces never choose how calls run and never resolve settings themselves, so a
new mode is one backend and a new kind of server is one provider.

    >>> import llm_magics
    >>> llm_magics.map(["a", "b"], mode="async")                   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import errors
from .budget import bounded_for_budget
from .call_stats import CallStats
from .endpoint import Endpoint
from .history import context
from .jobs import Job
from .packing import pack_size
from .providers import needs_provider, planning_endpoint
from .registry import current_cell, get_backend
from .request_fields import request_params
from .settings import FIELDS, Settings, resolve
from .types import Messages, Priority, Request, to_messages

__all__ = [
    "Call", "Work", "Backend", "split_options", "resolve_call", "plan_call", "build_requests",
    "prepare", "start", "check_pack", "hands_back_at_once", "DEFAULT_MODE",
]

DEFAULT_MODE = "async"


@dataclass(frozen=True)
class Call:
    """One face call, resolved: settings, where calls go, and the request fields to send."""

    settings: Settings
    endpoint: Endpoint
    params: dict[str, Any]


@dataclass
class Work:
    """What a face hands a backend: requests in input order and how to run them."""

    requests: Sequence[Request | errors.LLMError | None]
    settings: Settings
    endpoint: Endpoint
    use_cache: bool | None = None
    concurrency: int | None = None
    stats: CallStats | None = None
    on_result: Callable[[int, Any], None] | None = None
    """Called as each input position finishes (fan-out backends), in completion order."""
    title: str = ""
    progress: bool = False
    background: bool = False
    keep_raw: bool = True
    """Keep each answer's raw body (``Response.raw``); ``map`` drops it unless asked, and a
    DataFrame apply always does."""
    finalize: Callable[[list[Any]], Any] | None = None
    """Turns the outcomes into what ``results()`` returns (a Series for ``df.llm``)."""
    index_labels: list[Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    deadline_at: float | None = None
    """When the whole run must be done, on the monotonic clock (``core.deadline``)."""
    pack: int | str | None = None
    """Rows per request (``pack=N`` or ``"auto"``: ``core.packing``); ``None`` sends one each."""


class Backend(Protocol):
    """A mode: where its calls go, and how it runs a ``Work`` (see ``core.backends``)."""

    name: str
    returns_at_once: bool
    """True when ``start`` is worth returning to the user at once (a batch takes hours)."""
    packs_rows: bool
    """True when it sends ``Work.pack`` rows per request; the others refuse ``pack=``."""

    def endpoint_for(self, settings: Settings) -> Endpoint:
        """Where this backend's calls go for ``settings`` (may block: run off the loop)."""
        ...

    async def start(self, work: Work) -> Job:
        """Begin running ``work`` (on the core's loop); return its handle without waiting."""
        ...


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword arguments into settings and request params (temperature, max_tokens...)."""
    settings = {k: v for k, v in options.items() if k in FIELDS}
    params = request_params({k: v for k, v in options.items() if k not in FIELDS})
    return settings, params


def _call(settings: Settings, endpoint: Endpoint, params: dict[str, Any]) -> Call:
    return Call(settings, endpoint, bounded_for_budget(params, settings))


async def resolve_call(options: dict[str, Any], mode: str = DEFAULT_MODE) -> Call:
    """Settings, endpoint and params for one face call, as the backend for ``mode`` sees it."""
    backend = get_backend(mode)
    setting_args, params = split_options(options)
    settings = resolve(**setting_args)
    _tag_cell()
    if needs_provider(settings):
        # A provider may start a model: seconds of blocking, kept off the loop.
        endpoint = await asyncio.to_thread(backend.endpoint_for, settings)
    else:
        endpoint = backend.endpoint_for(settings)
    return _call(settings, endpoint, params)


def plan_call(options: dict[str, Any]) -> tuple[Call, bool]:
    """``resolve_call`` without any I/O, for estimates; ``False`` if the endpoint is a stand-in."""
    setting_args, params = split_options(options)
    settings = resolve(**setting_args)
    endpoint, exact = planning_endpoint(settings)
    return _call(settings, endpoint, params), exact


def prepare(prompt_or_messages: str | Messages, call: Call, *, system: str | None = None,
            priority: Priority | None = None) -> Request:
    """One request; raises ``InvalidRequestError`` for a prompt that cannot be sent."""
    return Request(
        messages=to_messages(prompt_or_messages, system),
        model=call.endpoint.model,
        base_url=call.endpoint.base_url,
        params=call.params,
        priority=priority or call.settings.priority,
    )


def build_requests(
    items: Iterable[str | Messages | errors.LLMError | None],
    call: Call,
    *,
    system: str | None = None,
    priority: Priority | None = None,
    none_sends_nothing: bool = False,
) -> list[Request | errors.LLMError | None]:
    """One request per item, in order; an item that cannot be sent is its error instead.

    An item that is already an error (a row that failed to render) stays as it
    is. ``None`` is a row with nothing to send when ``none_sends_nothing`` (a
    DataFrame row with a missing value, a batch input); otherwise it is an error
    in its slot like any other bad prompt (``map([None])``).
    """
    out: list[Request | errors.LLMError | None] = []
    append = out.append
    for item in items:
        if isinstance(item, errors.LLMError) or (item is None and none_sends_nothing):
            append(item)
            continue
        try:
            append(prepare(item, call, system=system, priority=priority))
        except errors.LLMError as err:  # a bad prompt is an error in its slot, not a crash
            append(err)
    return out


async def start(work: Work, mode: str = DEFAULT_MODE) -> Job:
    """Hand ``work`` to the backend for ``mode``; its handle comes back without waiting."""
    backend: Backend = get_backend(mode)
    check_pack(work, backend)
    _tag_cell()
    return await backend.start(work)


def check_pack(work: Work, backend: Backend) -> None:
    """Refuse ``pack=`` before anything is sent, where it cannot be kept or is not valid."""
    if work.pack is None:
        return
    pack_size(work.pack)
    if any(isinstance(r, Request) and r.params.get("response_format") for r in work.requests):
        raise errors.InvalidRequestError(
            "pack= packs text answers (each row's answer is one string in the pack's own JSON "
            "schema), so it does not combine with schema= or response_format= yet: leave out "
            "one of them.")
    if not backend.packs_rows:
        raise errors.InvalidRequestError(
            f"pack= is not supported with mode={backend.name!r}: the {backend.name} mode sends "
            "one row per request. Use mode='async' (or 'auto', which then runs async) to pack "
            "rows, or leave pack= out.")


def hands_back_at_once(job: Job, mode: str) -> bool:
    """Whether a face returns ``job`` itself rather than waiting for its results.

    A batch may take hours, so its handle comes back at once; ``mode="auto"``
    decides per run, and its job carries the plan that says which mode it chose.
    """
    plan = getattr(job, "plan", None)
    return bool(get_backend(plan.choice if plan is not None else mode).returns_at_once)


def _tag_cell() -> None:
    """The call log says which notebook cell made a call: the one running when it started."""
    if context.current().cell is None:
        context.tag(cell=current_cell())
