"""The gateway's options in one frozen dataclass, shared by the CLI and ``create_app``.

Secrets (the upstream key, client keys) are fields with ``repr=False`` so an
accidental ``print(config)`` or a log line with the config shows neither.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ...core.types import PRIORITY_RANK, Priority
from ..config_checks import check_limits, check_positive
from ..connection_guard import ConnectionLimits
from ..constants import (
    BODY_IDLE_TIMEOUT_S,
    HEADER_TIMEOUT_S,
    KEEP_ALIVE_S,
    MAX_ACTIVE_BATCHES,
    MAX_CONNECTIONS,
    MAX_JSON_BODY_MB,
    MAX_STORAGE_MB,
    WRITE_TIMEOUT_S,
)

__all__ = ["CLIENT_KEYS_ENV", "METRICS_KEY_ENV", "GatewayConfig", "default_state_dir"]

CLIENT_KEYS_ENV = "LLM_MAGICS_GATEWAY_KEYS"
"""Comma-separated client keys, read when ``--client-keys`` is not given."""

METRICS_KEY_ENV = "LLM_MAGICS_GATEWAY_METRICS_KEY"
"""A key that may read ``/metrics`` (and nothing else), for a scraper."""


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
    max_storage_mb: float = MAX_STORAGE_MB
    """Files (uploads and batch outputs) one client key may keep; an upload past it is a 400."""
    default_priority: Priority = "high"
    """Priority of requests without ``X-LLM-Priority``: ahead of batches (always ``bulk``)."""
    batch_window_s: float | None = None
    """Override of the 24 h completion window, in seconds (tests of expiry)."""
    batch_retry_s: float = 5.0
    """Wait before retrying batch lines that failed on a transient upstream error."""
    max_active_batches: int = MAX_ACTIVE_BATCHES
    """Batches one client key may have running at once (429 for the next)."""
    models_ttl_s: float = 60.0
    """How long the upstream's model list is trusted before it is fetched again."""
    keys_file: Path | None = None
    """JSON list of client keys with their own limits:
    ``[{"key": ..., "rpm": ..., "tpm": ..., "max_priority": ...}]``."""
    key_rpm: int | None = None
    """Requests per minute for each client key (its own share; 429 beyond), unless the keys
    file sets one."""
    key_tpm: int | None = None
    """Tokens per minute for each client key, unless the keys file sets one."""
    key_max_priority: Priority = "interactive"
    """The highest priority a client key's requests get (a higher ``X-LLM-Priority`` is
    served at this one), unless the keys file sets one: ``bulk`` keeps every key's requests
    from going ahead of others' bulk work."""
    key_concurrency: int | None = None
    """Requests one client key may have in flight (429 beyond); ``None``: half of
    ``concurrency`` when there are two or more keys, else no cap."""
    metrics_key: str | None = field(default=None, repr=False)
    share_cache: bool = False
    """One response cache for every key (else one per key) and the ``x-llm-cache`` header."""
    allowed_hosts: tuple[str, ...] = ()
    """``Host`` names accepted besides the loopback names and the bound address (``*``: any)."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the gateway (others get 403)."""
    allow_remote_keyless: bool = False
    """Serve a non-loopback address without client keys (anyone who can reach it may use it)."""
    max_body_mb: float = MAX_JSON_BODY_MB
    """Largest JSON body (chat, batch creation); uploads use ``max_file_mb``."""
    header_timeout_s: float = HEADER_TIMEOUT_S
    body_timeout_s: float = BODY_IDLE_TIMEOUT_S
    """Longest pause while a request body arrives."""
    write_timeout_s: float = WRITE_TIMEOUT_S
    """Longest time a response may wait for the client to read (a full TCP window)."""
    keep_alive_s: int = KEEP_ALIVE_S
    max_connections: int = MAX_CONNECTIONS

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        check_limits(self, ("rpm", "tpm"))
        check_positive(self, ("max_file_mb", "max_storage_mb", "max_body_mb", "header_timeout_s",
                              "body_timeout_s", "write_timeout_s", "keep_alive_s",
                              "max_connections", "max_active_batches"))
        check_limits(self, ("key_rpm", "key_tpm", "key_concurrency"), "no per-key limit")
        for name in ("default_priority", "key_max_priority"):
            if getattr(self, name) not in PRIORITY_RANK:
                raise ValueError(f"{name} must be interactive, high or bulk")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_storage_bytes(self) -> int:
        return int(self.max_storage_mb * 1024 * 1024)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(header_timeout_s=self.header_timeout_s,
                                write_timeout_s=self.write_timeout_s,
                                keep_alive_s=self.keep_alive_s,
                                max_connections=self.max_connections)

    @property
    def resolved_cache_path(self) -> Path:
        return self.cache_path or Path(self.state_dir) / "cache.sqlite"
