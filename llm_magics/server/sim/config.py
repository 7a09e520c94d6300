"""The simulator's switches, in one dataclass shared by the Python API, CLI and live config.

One definition keeps the three faces (``create_app(SimConfig(...))``, ``llm-magics
sim --flag``, ``POST /_sim/config``) in step: the CLI builds its flags from the field
list and the live endpoint validates through :meth:`SimConfig.updated`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, get_args, get_type_hints

from ..config_checks import check_limits, check_positive

DEFAULT_MODELS = ("sim-small", "sim-large", "gpt-4o-mini", "gpt-4o")
BAD_BODIES = ("html", "no_choices")


def switch(default: Any, help: str) -> Any:
    """One switch: its default and the help line the CLI shows."""
    return field(default=default, metadata={"help": help})


@dataclass
class SimConfig:
    """Behaviour switches of the simulator. Rates are fractions in ``[0, 1]``.

    Every field can be changed while the server runs; rate-limit windows restart
    when ``rpm``/``tpm`` change so a new limit takes effect at once.
    """

    models: list[str] = field(
        default_factory=lambda: list(DEFAULT_MODELS),
        metadata={"help": "model ids served by /v1/models; others get 404 model_not_found"},
    )
    latency_s: float = switch(0.0, "fixed delay before a response or the first token")
    token_latency_s: float = switch(
        0.0, "delay per answer token (streams pace tokens; non-stream waits the sum)",
    )
    answer_tokens: int = switch(16, "tokens in a default answer (capped by max_tokens)")
    rpm: int | None = switch(None, "requests per minute per model (429 beyond); none = off")
    tpm: int | None = switch(None, "tokens per minute per model (429 beyond); none = off")
    error_rate: float = switch(0.0, "share of chat requests answered with error_status")
    error_status: int = switch(503, "status used by error_rate")
    hang_rate: float = switch(0.0, "share of chat requests accepted and never answered")
    hang_max_s: float = switch(120.0, "a hung request gives up (504) after this many seconds")
    drop_rate: float = switch(0.0, "share of streams whose connection drops mid-way")
    drop_before_first_token_rate: float = switch(
        0.0, "share of chat requests dropped before any content",
    )
    malformed_rate: float = switch(0.0, "share of streams that emit a non-JSON chunk")
    fail_status: int | None = switch(None, "answer every chat request with this status")
    truncate_rate: float = switch(
        0.0, "share of streams that end cleanly mid-way: no finish_reason, no [DONE]",
    )
    bad_body_rate: float = switch(
        0.0, "share of chat requests answered 200 with a body that is no answer",
    )
    bad_body: str = switch(
        "html", "what bad_body_rate sends: html (neither JSON nor SSE) or no_choices (JSON, or "
        "an SSE stream, without choices)",
    )
    retry_after_s: float | None = switch(
        None, "Retry-After seconds sent with every 429 instead of the real wait (e.g. 3600 for a "
        "client's cap); none = the real wait",
    )
    stall_headers_s: float = switch(
        0.0, "hold every chat request this long before the status line, streams too (the client "
        "leaving ends the hold)",
    )
    context_tokens: int | None = switch(
        None, "chat requests whose prompt is longer than this many tokens get 400 "
        "context_length_exceeded; none = no limit",
    )
    pack_fault_rate: float = switch(
        0.0, "share of items in a packed reply (pack=N) whose answer is dropped, duplicated or "
        "not a string (picked by a hash of the item and seed)",
    )
    seed: int | None = switch(0, "seed of the fault dice (same seed + order = same faults)")
    api_key: str | None = switch(None, "if set, require 'Authorization: Bearer <key>' (else 401)")
    batch_step_s: float = switch(0.5, "real seconds each batch state lasts")
    batch_line_s: float = switch(0.0, "extra real seconds spent per batch line")
    batch_time_scale: float = switch(
        1.0, "batch window compression: 86400 makes the 24h window last 1s",
    )
    batch_expire_after_fraction: float | None = switch(
        None, "expire batches after this share of lines (rest: batch_expired)",
    )
    batch_stall_after_fraction: float | None = switch(
        None, "batches answer this share of lines, then never complete: they stay in_progress "
        "until cancelled (partial output) or their window ends",
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Reject values that would make the server misbehave silently.

        The names say the rule: ``*_rate`` and ``*_fraction`` are shares in ``[0, 1]``,
        ``*_s`` are durations ``>= 0``; ``None`` (where allowed) means off.
        """
        for name in switch_names():
            value = getattr(self, name)
            if value is None:
                continue
            if name.endswith(("_rate", "_fraction")) and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value!r}")
            if name.endswith("_s") and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if self.bad_body not in BAD_BODIES:
            raise ValueError(f"bad_body must be one of {', '.join(BAD_BODIES)}")
        if self.answer_tokens < 1:
            raise ValueError("answer_tokens must be >= 1")
        check_limits(self, ("rpm", "tpm", "context_tokens"))
        check_positive(self, ("batch_time_scale",))
        for name in ("error_status", "fail_status"):
            value = getattr(self, name)
            if value is not None and not 100 <= value <= 599:
                raise ValueError(f"{name} must be an HTTP status code")
        if not self.models:
            raise ValueError("models must list at least one model id")

    def updated(self, **switches: Any) -> SimConfig:
        """A validated copy with ``switches`` applied; unknown names are an error."""
        unknown = set(switches) - switch_names()
        if unknown:
            raise ValueError(f"unknown simulator switch(es): {', '.join(sorted(unknown))}")
        coerced = {name: coerce(name, value) for name, value in switches.items()}
        return dataclasses.replace(self, **coerced)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view; the API key is masked so it never reaches logs or stats."""
        data = dataclasses.asdict(self)
        if data.get("api_key"):
            data["api_key"] = "***"
        return data


def switch_names() -> set[str]:
    return {f.name for f in fields(SimConfig)}


def coerce(name: str, value: Any) -> Any:
    """Turn JSON or CLI values into the field's type (``"none"``/``0`` limits mean off)."""
    kinds = get_args(_HINTS[name]) or (_HINTS[name],)
    if value is None or (isinstance(value, str) and value.lower() in {"none", "null", ""}):
        if type(None) in kinds:
            return None
        raise ValueError(f"{name} cannot be empty")
    if name in {"rpm", "tpm"} and int(value) == 0:
        return None
    if name == "models":
        if isinstance(value, str):
            return [m.strip() for m in value.split(",") if m.strip()]
        return [str(m) for m in value]
    if float in kinds:
        return float(value)
    if int in kinds:
        if isinstance(value, bool):
            raise ValueError(f"{name} must be an integer")
        return int(value)
    return str(value)


_HINTS = get_type_hints(SimConfig)
