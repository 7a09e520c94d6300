"""The gateway's options in one frozen dataclass, shared by the CLI and ``create_app``.

Secrets (the upstream key, client keys) are fields with ``repr=False`` so an
accidental ``print(config)`` or a log line with the config shows neither.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["CLIENT_KEYS_ENV", "GatewayConfig", "default_state_dir"]

CLIENT_KEYS_ENV = "LLM_MAGICS_GATEWAY_KEYS"
"""Comma-separated client keys, read when ``--client-keys`` is not given."""

Priority = Literal["interactive", "high", "bulk"]


def default_state_dir() -> Path:
    """``$XDG_CACHE_HOME/llm-magics/gateway`` (``~/.cache/...``): batches, files, cache."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm-magics" / "gateway"


@dataclass(frozen=True)
class GatewayConfig:
    """How one gateway runs. ``upstream`` is a base URL (``.../v1``) or ``"local"``.

    >>> GatewayConfig(upstream="http://127.0.0.1:8000/v1", rpm=300).concurrency
    32
    """

    upstream: str = "local"
    upstream_key: str | None = field(default=None, repr=False)
    client_keys: tuple[str, ...] = field(default=(), repr=False)
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int = 32
    cache: bool = True
    state_dir: Path = field(default_factory=default_state_dir)
    cache_path: Path | None = None
    """Response cache file; ``None`` puts it in ``state_dir``."""
    max_file_mb: float = 200.0
    """Largest upload to ``/v1/files`` (OpenAI's batch input limit is 200 MB)."""
    default_priority: Priority = "high"
    """Priority of requests without ``X-LLM-Priority``: ahead of batches (always ``bulk``)."""
    batch_window_s: float | None = None
    """Override of the 24 h completion window, in seconds (tests of expiry)."""
    batch_retry_s: float = 5.0
    """Wait before retrying batch lines that failed on a transient upstream error."""
    models_ttl_s: float = 60.0
    """How long the upstream's model list is trusted before it is fetched again."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (or None for no limit)")
        if self.max_file_mb <= 0:
            raise ValueError("max_file_mb must be > 0")
        if self.default_priority not in ("interactive", "high", "bulk"):
            raise ValueError("default_priority must be interactive, high or bulk")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def resolved_cache_path(self) -> Path:
        return self.cache_path or Path(self.state_dir) / "cache.sqlite"
