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
from .constants import PACK_ROW_OVERHEAD_TOKENS
from .cost import Prices, cost_usd
from .packing import pack_rows, pack_size, packable_groups
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
    pack: int = 1
    """Rows per request (``pack=``), 1 when no row is packed: the calls and tokens above are
    those of the packs and of the rows sent alone."""

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
            + (f"; packed {self.pack} rows per request" if self.pack > 1 else "")
        )


def estimate_requests(
    requests: Sequence[Request | errors.LLMError | None],
    *,
    model: str,
    cache: ResponseCache | None = None,
    completion_tokens: int | None = None,
    pack: int | str | None = None,
    prices: Prices | None = None,
) -> Estimate:
    """Price ``requests`` (as a fan-out gets them: ``None``/errors are rows that send nothing).

    ``completion_tokens`` is the assumed answer length; without it each request's
    ``max_tokens`` is used, else ``DEFAULT_COMPLETION_ESTIMATE``. Identical requests
    count once and cached ones not at all, exactly as the fan-out will send them.
    ``prices`` are the user's (the ``prices`` setting), winning over the table.
    With ``pack=`` the calls and tokens are those of the packed requests
    (``core.packing``), each row's answer framed as one JSON entry.
    """
    unique: dict[str, Request] = {}
    skipped = 0
    for req in requests:
        if isinstance(req, Request):
            unique.setdefault(req.cache_key(), req)
        else:
            skipped += 1
    cached = set(cache.get_many(unique)) if cache is not None and unique else set()
    to_send = {k: r for k, r in unique.items() if k not in cached}
    size = pack_size(pack, to_send.values())
    sent, packed_rows = _sent_requests(to_send, size)
    prompt = sum(estimate_prompt_tokens(r.messages) for r in sent)
    per_call = [_answer_tokens(r, completion_tokens) for r in to_send.values()]
    completion = sum(per_call) + PACK_ROW_OVERHEAD_TOKENS * packed_rows
    usage = Usage(prompt, completion)
    assumed = completion_tokens if completion_tokens is not None else (
        max(per_call) if per_call else DEFAULT_COMPLETION_ESTIMATE)
    return Estimate(
        model=model,
        rows=len(requests),
        skipped=skipped,
        unique=len(unique),
        cached=len(cached),
        calls=len(sent),
        prompt_tokens=prompt,
        completion_tokens_per_call=assumed,
        completion_tokens=completion,
        cost_usd=cost_usd(model, usage, prices=prices),
        batch_cost_usd=cost_usd(model, usage, batch=True, prices=prices),
        pack=size if packed_rows else 1,
    )


def _sent_requests(to_send: dict[str, Request], size: int) -> tuple[list[Request], int]:
    """The requests that will go out (the packs, and the rows that go alone); rows packed."""
    sent: list[Request] = []
    packed_rows = 0
    for keys in packable_groups(to_send, size):
        if len(keys) == 1:
            sent.append(to_send[keys[0]])
        else:
            sent.append(pack_rows([to_send[k] for k in keys], keys).request)
            packed_rows += len(keys)
    return sent, packed_rows


def _answer_tokens(request: Request, assumed: int | None) -> int:
    """One call's answer tokens: each of its ``n`` choices is an answer."""
    per_answer = assumed if assumed is not None else (
        request.max_tokens or DEFAULT_COMPLETION_ESTIMATE)
    return per_answer * request.choices
