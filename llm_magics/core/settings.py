"""One place where settings resolve, highest first.

call arguments > ``configure()`` / ``%llm_config`` / IPython config > environment
(``LLM_MAGICS_<NAME>``, ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``) > defaults below.

With no API key and no base URL anywhere, the engine falls back to the embedded
local model (see ``llm_magics.local``)::

    >>> from llm_magics.core.settings import resolve
    >>> resolve(rpm=600).rpm
    600
"""

from __future__ import annotations

import difflib
import json
import os
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ..errors import ConfigurationError
from .secrets import mask_key, mask_url

__all__ = ["Settings", "resolve", "configure", "configured", "reset", "ENV_PREFIX", "mask_key",
           "URL_FIELDS"]

ENV_PREFIX = "LLM_MAGICS_"

# Env names other tools already use, checked after our own LLM_MAGICS_* name.
_ENV_ALIASES = {"api_key": ("OPENAI_API_KEY",), "base_url": ("OPENAI_BASE_URL",)}


def _state_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm-magics"


class Settings(BaseModel):
    """Everything that can be configured; each field's description feeds the docs."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    model: str | None = Field(
        None, description="Model name sent to the server. Default: gpt-4o-mini on a hosted "
        "API, the packaged SmolLM2 on the embedded local model."
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1."
    )
    api_key: SecretStr | None = Field(
        None, description="API key. Never printed, logged, cached or stored."
    )
    concurrency: int = Field(32, ge=1, description="Most requests in flight at once.")
    rpm: int | None = Field(None, ge=1, description="Requests per minute limit (None: no limit).")
    tpm: int | None = Field(None, ge=1, description="Tokens per minute limit (None: no limit).")
    timeout: float = Field(
        120.0, gt=0, description="Hard bound on one attempt, in seconds: connect, send, wait "
        "and read the whole answer (a stream: up to its first text), whatever the transport. "
        "An attempt that takes longer fails with APITimeoutError and is retried."
    )
    connect_timeout: float = Field(10.0, gt=0, description="TCP connect timeout in seconds.")
    read_timeout: float = Field(
        60.0, gt=0, description="Longest wait for any bytes of a response, in seconds (a finer "
        "bound inside `timeout`)."
    )
    stream_idle_timeout: float = Field(
        30.0, gt=0, description="Longest gap between two chunks of a stream after its first "
        "text, in seconds."
    )
    max_retries: int = Field(6, ge=0, description="Retries after the first attempt.")
    deadline_s: float | None = Field(
        None, gt=0, description="Bound on everything one call waits for, in seconds: attempts, "
        "backoff sleeps and rate-limit waits (429 pauses included). When it passes, the call "
        "ends with DeadlineExceededError. None: only `timeout` and `max_retries` bound a call."
    )
    backoff_initial_s: float = Field(
        0.5, gt=0, description="First retry wait after a 429; a 5xx, timeout or dropped "
        "connection waits a fifth of it. Each later wait is drawn between that and three times "
        "the last one (decorrelated jitter)."
    )
    backoff_max_s: float = Field(
        30.0, gt=0, description="Longest wait of the exponential backoff between two retries. "
        "A server's Retry-After is waited for instead when it is at most 60 s; a longer one "
        "ends the call with RateLimitError."
    )
    breaker_threshold: int = Field(
        5, ge=1, description="Consecutive failures that open the circuit breaker."
    )
    breaker_cooldown_s: float = Field(
        15.0, gt=0, description="Seconds an open breaker waits before one probe call."
    )
    cache: bool = Field(True, description="Reuse stored answers for identical requests.")
    cache_path: Path = Field(
        default_factory=lambda: _state_dir() / "cache.sqlite",
        description="SQLite file for the response cache.",
    )
    jobstore_path: Path = Field(
        default_factory=lambda: _state_dir() / "jobs.sqlite",
        description="SQLite file recording batch jobs, so they survive kernel restarts.",
    )
    history: bool = Field(
        True, description="Record every call (model, tokens, cost, latency, status, cell) in "
        "the call log; `llm_magics.history()` and `%llm_history` read it."
    )
    history_text: bool = Field(
        True, description="Keep the messages sent and the answer text in the call log."
    )
    history_path: Path = Field(
        default_factory=lambda: _state_dir() / "history.sqlite",
        description="SQLite file for the call log (private to the user, like the cache).",
    )
    history_max_age_days: float | None = Field(
        90.0, gt=0, description="Call-log rows older than this are dropped (None: kept)."
    )
    history_max_rows: int | None = Field(
        1_000_000, ge=1, description="The call log keeps at most this many newest rows "
        "(about 1 kB each without text; None: no bound)."
    )
    trace_text: bool = Field(
        False, description="Put prompt and answer text on OpenTelemetry spans (off: spans "
        "carry model, tokens, cost and timing only)."
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis URL for the Celery queue and shared limits."
    )
    transport: Literal["aiohttp", "httpx"] = Field(
        "aiohttp", description="HTTP library that carries the requests (aiohttp: less CPU per "
        "call, see docs/benchmarks.md)."
    )
    request_path: Literal["lean", "sdk"] = Field(
        "lean", description="How a chat request is sent: lean (JSON bytes straight on the "
        "pooled `transport` session; less CPU per call) or sdk (through the OpenAI SDK, the "
        "reference; same headers, errors and retries)."
    )
    priority: Literal["interactive", "high", "bulk"] = Field(
        "bulk", description="Default priority of calls that do not state one."
    )
    max_cost_usd: float | None = Field(
        None, ge=0, description="Most one run (a map(), an apply, a batch, one cell) may spend, "
        "in USD. Spent cost plus the worst case of every call in flight never exceeds it; rows "
        "that do not fit end as BudgetExceededError. A model without a known price is refused. "
        "None: no cap."
    )
    prices: dict[str, tuple[float, float]] | None = Field(
        None, description="Prices of models the price table lacks (private deployments), as "
        "{model: (input, output)} in USD per 1M tokens; they win over the table."
    )

    @field_validator("prices", mode="before")
    @classmethod
    def _prices_from_json(cls, v: Any) -> Any:
        if isinstance(v, str):  # LLM_MAGICS_PRICES='{"my-model": [0.2, 0.8]}'
            try:
                return json.loads(v)
            except ValueError:
                raise ValueError('expected JSON such as {"my-model": [0.2, 0.8]}') from None
        return v

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        if v and mask_url(v) != v:  # never echo the URL: it holds a password
            raise ValueError(
                "base_url holds a user:password part, which the HTTP client would send instead "
                "of (httpx) or next to (aiohttp) the API key's Bearer header; drop it from the "
                "URL and set api_key=... (or OPENAI_API_KEY)"
            )
        return v.rstrip("/") if v else v

    def key_value(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None

    def public_dict(self) -> dict[str, Any]:
        """Settings as plain values with the key and URL passwords masked: safe to show."""
        data = self.model_dump()
        data["api_key"] = mask_key(self.key_value())
        for name in URL_FIELDS:
            if data[name]:
                data[name] = mask_url(data[name])
        return data

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name in URL_FIELDS and value else value


URL_FIELDS = ("base_url", "redis_url")
"""Settings holding URLs, whose passwords (``redis://:pw@host``) are masked wherever shown."""


FIELDS = tuple(Settings.model_fields)

_lock = threading.Lock()
_configured: dict[str, Any] = {}


def _from_env() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in FIELDS:
        for env in (ENV_PREFIX + name.upper(), *_ENV_ALIASES.get(name, ())):
            raw = os.environ.get(env)
            if raw not in (None, ""):
                values[name] = raw
                break
    return values


def _check_names(values: dict[str, Any]) -> None:
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        hints = "".join(
            f" `{name}`: did you mean {' or '.join(f'`{m}`' for m in close)}?"
            for name in unknown if (close := difflib.get_close_matches(name, FIELDS, n=2))
        )
        raise ConfigurationError(
            f"Unknown setting(s) {unknown}.{hints} Known settings: {', '.join(FIELDS)}. "
            "Request fields (temperature, max_tokens...) go to the call itself, e.g. "
            "complete(prompt, temperature=0)."
        )


def _build(values: dict[str, Any]) -> Settings:
    try:
        return Settings(**values)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()
        )
        raise ConfigurationError(f"Invalid setting: {problems}.") from None


def configure(**settings: Any) -> Settings:
    """Set process-wide defaults (what ``%llm_config`` and IPython config write).

    ``configure(rpm=None)`` removes an earlier ``configure(rpm=...)``.
    """
    _check_names(settings)
    with _lock:
        merged = {**_configured, **settings}
        merged = {k: v for k, v in merged.items() if v is not None}
        result = _build({**_from_env(), **merged})
        _configured.clear()
        _configured.update(merged)
    return result


def configured() -> dict[str, Any]:
    """What ``configure()`` has set, without defaults or environment."""
    with _lock:
        return dict(_configured)


def reset() -> None:
    """Forget everything ``configure()`` set (tests and ``%llm_config --reset``)."""
    with _lock:
        _configured.clear()


def resolve(**call_args: Any) -> Settings:
    """Settings for one call: arguments given (not None) win over everything else."""
    given = {k: v for k, v in call_args.items() if v is not None}
    _check_names(given)
    with _lock:
        layered = {**_from_env(), **_configured, **given}
    return _build(layered)
