"""Per-model RPM/TPM limits that answer like OpenAI: 429s, ``Retry-After`` and ``x-ratelimit-*``.

OpenAI meters with buckets that refill continuously over a minute: a fresh
key may burst up to the whole limit, then gets ``limit/60`` per second back.
``x-ratelimit-reset-*`` is the time until the bucket is full again and is
formatted like a Go duration (``"1s"``, ``"6m0s"``, ``"120ms"``). A client
limiter that learns from these headers is only tested honestly if the numbers
behave the same way, so that is what :class:`Bucket` models.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


def format_reset(seconds: float) -> str:
    """Go-style duration as OpenAI sends it: ``120ms``, ``1.5s``, ``6m0s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    minutes, secs = divmod(seconds, 60.0)
    secs_text = f"{secs:.3f}".rstrip("0").rstrip(".") or "0"
    if minutes >= 1:
        return f"{int(minutes)}m{secs_text}s"
    return f"{secs_text}s"


@dataclass
class Bucket:
    """A continuously refilling bucket holding at most ``limit`` units per minute."""

    limit: int
    level: float = field(init=False)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.level = float(self.limit)

    @property
    def rate(self) -> float:
        return self.limit / 60.0

    def refill(self, now: float) -> None:
        self.level = min(float(self.limit), self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` units are available (inf if it exceeds the limit)."""
        if amount > self.limit:
            return math.inf
        return max(0.0, (amount - self.level) / self.rate)

    def reset_after(self) -> float:
        return max(0.0, (self.limit - self.level) / self.rate)


@dataclass
class Decision:
    """Outcome of one admission check, with the headers to put on the response."""

    allowed: bool
    headers: dict[str, str]
    kind: str = ""
    retry_after_s: float = 0.0
    message: str = ""


class RateLimiter:
    """RPM and TPM buckets per model; check both, consume both only when both allow."""

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._requests: dict[str, Bucket] = {}
        self._tokens: dict[str, Bucket] = {}

    @property
    def active(self) -> bool:
        return bool(self.rpm or self.tpm)

    def _bucket(self, table: dict[str, Bucket], model: str, limit: int, now: float) -> Bucket:
        bucket = table.get(model)
        if bucket is None:
            bucket = table[model] = Bucket(limit, stamp=now)
        bucket.refill(now)
        return bucket

    def check(self, model: str, tokens: int, now: float | None = None) -> Decision:
        """Admit one request costing ``tokens`` (prompt estimate + completion budget)."""
        if not self.active:
            return Decision(True, {})
        now = time.monotonic() if now is None else now
        req = self._bucket(self._requests, model, self.rpm, now) if self.rpm else None
        tok = self._bucket(self._tokens, model, self.tpm, now) if self.tpm else None

        wait_req = req.wait_for(1) if req else 0.0
        wait_tok = tok.wait_for(tokens) if tok else 0.0
        allowed = wait_req == 0.0 and wait_tok == 0.0
        if allowed:
            if req:
                req.level -= 1
            if tok:
                tok.level -= tokens
        headers = self._headers(req, tok)
        if allowed:
            return Decision(True, headers)

        if wait_req >= wait_tok:
            kind, wait = "requests", wait_req
            message = (
                f"Rate limit reached for {model} on requests per min (RPM): "
                f"Limit {self.rpm}, Used {self.rpm - int(req.level)}, Requested 1. "
                f"Please try again in {format_reset(wait)}."
            )
        else:
            kind, wait = "tokens", wait_tok
            if math.isinf(wait):
                message = (
                    f"Request too large for {model} on tokens per min (TPM): "
                    f"Limit {self.tpm}, Requested {tokens}. Reduce the request size."
                )
            else:
                message = (
                    f"Rate limit reached for {model} on tokens per min (TPM): "
                    f"Limit {self.tpm}, Used {self.tpm - int(tok.level)}, Requested {tokens}. "
                    f"Please try again in {format_reset(wait)}."
                )
        wait = 60.0 if math.isinf(wait) else wait
        headers["retry-after"] = str(max(1, math.ceil(wait)))
        headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        return Decision(False, headers, kind, wait, message)

    def _headers(self, req: Bucket | None, tok: Bucket | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if req:
            headers["x-ratelimit-limit-requests"] = str(req.limit)
            headers["x-ratelimit-remaining-requests"] = str(max(0, int(req.level)))
            headers["x-ratelimit-reset-requests"] = format_reset(req.reset_after())
        if tok:
            headers["x-ratelimit-limit-tokens"] = str(tok.limit)
            headers["x-ratelimit-remaining-tokens"] = str(max(0, int(tok.level)))
            headers["x-ratelimit-reset-tokens"] = format_reset(tok.reset_after())
        return headers
