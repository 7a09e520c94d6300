"""Running a batch's pending lines through the core engine, at ``bulk`` priority.

Each line is checked like a sync request (same 400/404 bodies), grouped by
model (the engine keeps one limiter and breaker per model) and sent through
the core's in-process backend (``send_all``), which also answers lines whose
request is already in the response cache without a call. Every answer is
committed to the store as it arrives; that commit is what makes a restart skip the line.

A transient failure (429 or 5xx after the engine's own retries, a timeout,
an open breaker, an unreachable upstream) leaves the line pending for the
next round rather than failing it: a real batch does not fail a line because
the service was busy for a minute. After ``MAX_LINE_ROUNDS`` rounds that got
an HTTP answer the line fails with that answer; an upstream that cannot be
reached at all keeps lines pending until the completion window ends.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import errors
from ...core.backends.inprocess import send_all
from ...core.engine import Engine
from ...core.history.context import within
from ...core.pipeline import Work
from ...core.settings import Settings
from ...core.types import Request, Response
from ..batch_api import ServedBatch, output_record
from ..openai_shapes import ErrorReply
from .catalog import ModelCatalog
from .chat_model import validate_gateway_chat
from .key_limits import KeyLimits
from .relay import completion_body, to_core_request, to_openai_error
from .store import GatewayStore, PendingLine
from .tenants import key_id
from .upstream import Upstream

__all__ = ["MAX_LINE_ROUNDS", "LineRunner"]

MAX_LINE_ROUNDS = 3


def _is_transient(err: errors.LLMError) -> bool:
    return err.retryable or isinstance(err, errors.CircuitOpenError)


def _upstream_unreachable(err: errors.LLMError) -> bool:
    """No HTTP answer at all: waiting is the only cure, so such failures are not counted."""
    return isinstance(err, (errors.CircuitOpenError, errors.APIConnectionError))


def _encode(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


@dataclass
class LineRunner:
    """Runs rounds of pending lines for the gateway's batches."""

    store: GatewayStore
    engine: Engine
    upstream: Upstream
    settings_for: Callable[[str], Settings]
    """Engine settings for a tenant (its own response cache unless the cache is shared)."""
    catalog: ModelCatalog
    limits: KeyLimits
    """Only its shared-TPM check: a line too large for it fails, as a request would."""
    concurrency: int
    use_cache: bool
    lines_finished: int = 0
    rounds: dict[tuple[str, int], int] = field(default_factory=Counter)

    async def run_round(self, record: ServedBatch, pending: list[PendingLine],
                        tenant: str) -> int:
        """Run ``pending`` once; returns how many lines stay pending after a transient error."""
        groups: dict[str, list[tuple[int, str, Request]]] = {}
        for idx, custom_id, body in pending:
            try:
                request = await self._line_request(body)
            except ErrorReply as err:
                self._finish(record, idx, output_record(custom_id, err.status_code, err.body),
                             ok=False)
                continue
            groups.setdefault(request.model, []).append((idx, custom_id, request))
        settings = self.settings_for(tenant)
        with within(face="gateway", mode="batch", client=key_id(tenant), job_id=record.id):
            counts = await asyncio.gather(*(self._run_group(record, model, items, settings)
                                            for model, items in groups.items()))
        return sum(counts)

    async def _line_request(self, body: Mapping[str, Any]) -> Request:
        req = validate_gateway_chat(body)
        model = await self.catalog.resolve(req.model)
        request = to_core_request(body, model, self.upstream, "bulk")
        refusal = self.limits.oversize(request.estimated_tokens)
        if refusal is not None:
            raise refusal
        return request

    async def _run_group(self, record: ServedBatch, model: str,
                         items: list[tuple[int, str, Request]], settings: Settings) -> int:
        left = 0

        def on_result(position: int, outcome: Response | errors.LLMError | None) -> None:
            nonlocal left
            idx, custom_id, _ = items[position]
            if isinstance(outcome, Response):
                body = completion_body(outcome)
                self._finish(record, idx, output_record(custom_id, 200, body), ok=True)
                return
            if outcome is None:  # not produced for Request inputs; keep it pending
                left += 1
                return
            key = (record.id, idx)
            if _is_transient(outcome):
                if _upstream_unreachable(outcome):
                    left += 1
                    return
                self.rounds[key] += 1
                if self.rounds[key] < MAX_LINE_ROUNDS:
                    left += 1
                    return
            err = to_openai_error(outcome, self.upstream)
            self._finish(record, idx, output_record(custom_id, err.status_code, err.body),
                         ok=False)

        work = Work([request for _, _, request in items], settings, self.upstream.endpoint(model),
                    use_cache=self.use_cache, concurrency=self.concurrency, on_result=on_result)
        await send_all(self.engine, work)
        return left

    def _finish(self, record: ServedBatch, idx: int, line: dict[str, Any], *, ok: bool) -> None:
        if not self.store.finish_line(record.id, idx, ok, _encode(line)):
            return
        self.rounds.pop((record.id, idx), None)
        self.lines_finished += 1
        if ok:
            record.completed += 1
        else:
            record.failed += 1
