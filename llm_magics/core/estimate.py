"""What a fan-out will cost, worked out before anything is sent.

A 10,000-row ``apply`` is easy to start and hard to take back, so every face
can price it first: rows, distinct prompts, answers already cached, prompt
tokens (the local ~4 characters per token estimate), an *assumed* answer
length, and the cost at sync and at Batch API prices (``core.cost``).
Nothing here opens a connection or starts the embedded model.

    >>> from llm_magics.core.types import Request
    >>> reqs = [Request([{"role": "user", "content": "Define " + w}], "gpt-4o-mini", "u")
    ...         for w in ("cat", "dog", "cat")]
    >>> est = estimate_requests(reqs, model="gpt-4o-mini", completion_tokens=100)
    >>> est.rows, est.unique, est.calls, est.completion_tokens
    (3, 2, 2, 200)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import errors
from .cost import Prices, cost_usd
from .policy.cache import ResponseCache
from .tokens import DEFAULT_COMPLETION_ESTIMATE, estimate_prompt_tokens
from .types import Request, Usage

__all__ = ["Estimate", "estimate_requests"]


@dataclass(frozen=True)
class Estimate:
    """The price of a fan-out before it runs; ``None`` costs mean the model has no known price."""

    model: str
    rows: int
    skipped: int
    unique: int
    cached: int
    calls: int
    prompt_tokens: int
    completion_tokens_per_call: int
    completion_tokens: int
    cost_usd: float | None
    batch_cost_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        def money(v: float | None) -> str:
            return "unknown price" if v is None else f"${v:,.4f}"

        return (
            f"{self.rows:,} rows on {self.model}: {self.calls:,} calls to send "
            f"({self.unique:,} distinct, {self.cached:,} cached, {self.skipped:,} skipped), "
            f"~{self.prompt_tokens:,} prompt + ~{self.completion_tokens:,} completion tokens "
            f"(assuming {self.completion_tokens_per_call} per answer); "
            f"{money(self.cost_usd)} sync, {money(self.batch_cost_usd)} batch"
        )


def estimate_requests(
    requests: Sequence[Request | errors.LLMError | None],
    *,
    model: str,
    cache: ResponseCache | None = None,
    completion_tokens: int | None = None,
    prices: Prices | None = None,
) -> Estimate:
    """Price ``requests`` (as a fan-out gets them: ``None``/errors are rows that send nothing).

    ``completion_tokens`` is the assumed answer length; without it each request's
    ``max_tokens`` is used, else ``DEFAULT_COMPLETION_ESTIMATE``. Identical requests
    count once and cached ones not at all, exactly as the fan-out will send them.
    ``prices`` are the user's (the ``prices`` setting), winning over the table.
    """
    unique: dict[str, Request] = {}
    skipped = 0
    for req in requests:
        if isinstance(req, Request):
            unique.setdefault(req.cache_key(), req)
        else:
            skipped += 1
    cached = set(cache.get_many(unique)) if cache is not None and unique else set()
    to_send = [r for k, r in unique.items() if k not in cached]
    prompt = sum(estimate_prompt_tokens(r.messages) for r in to_send)
    per_call = [_answer_tokens(r, completion_tokens) for r in to_send]
    completion = sum(per_call)
    usage = Usage(prompt, completion)
    assumed = completion_tokens if completion_tokens is not None else (
        max(per_call) if per_call else DEFAULT_COMPLETION_ESTIMATE)
    return Estimate(
        model=model,
        rows=len(requests),
        skipped=skipped,
        unique=len(unique),
        cached=len(cached),
        calls=len(to_send),
        prompt_tokens=prompt,
        completion_tokens_per_call=assumed,
        completion_tokens=completion,
        cost_usd=cost_usd(model, usage, prices=prices),
        batch_cost_usd=cost_usd(model, usage, batch=True, prices=prices),
    )


def _answer_tokens(request: Request, assumed: int | None) -> int:
    if assumed is not None:
        return assumed
    return request.max_tokens or DEFAULT_COMPLETION_ESTIMATE
