"""Everything one gateway shares between its clients, built once per app.

One engine (so one breaker and one RPM/TPM limiter per upstream model for
every client and every batch), one concurrency bound, one model catalog, one
store. The response cache is one file per tenant (a client key) unless the
operator shares it (``--share-cache``): a shared cache tells one tenant, by
its speed and cost, what another asked. Several gateways can run in one
process (tests), each with its own state; nothing here is a module-level global.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from ...core import settings as core_settings
from ...core.client import RAW_RESPONSE, get_client, translate_error
from ...core.policy.cache import get_cache
from ...core.settings import Settings
from ..private_files import private_dir, private_file
from .admission import Admission
from .batch_lines import LineRunner
from .batches import GatewayBatches
from .catalog import ModelCatalog
from .config import GatewayConfig
from .engine import GatewayEngine
from .key_limits import KeyLimits
from .key_share import KeyShare, key_share_limit
from .slots import PrioritySlots
from .store import GatewayStore
from .tenants import ClientKey, ClientKeys, read_keys_file
from .upstream import Upstream

__all__ = ["GatewayState", "TenantCaches", "Traffic", "build_state", "client_keys",
           "engine_settings", "gateway_state"]


@dataclass
class Traffic:
    """What the gateway answered, by status (read by ``/metrics``)."""

    started_at: float = field(default_factory=time.time)
    requests: int = 0
    in_flight: int = 0
    by_status: dict[int, int] = field(default_factory=dict)

    def record(self, status: int) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1


@dataclass
class GatewayState:
    config: GatewayConfig
    upstream: Upstream
    settings: Settings
    engine: GatewayEngine
    slots: PrioritySlots
    catalog: ModelCatalog
    store: GatewayStore
    batches: GatewayBatches
    keys: ClientKeys
    admission: Admission
    caches: TenantCaches
    limits: KeyLimits = field(default_factory=KeyLimits)
    share: KeyShare = field(default_factory=lambda: KeyShare(None))
    traffic: Traffic = field(default_factory=Traffic)

    @property
    def use_cache(self) -> bool:
        return self.config.cache


class TenantCaches:
    """Engine settings per tenant, differing only in the response cache file."""

    def __init__(self, config: GatewayConfig, settings: Settings) -> None:
        self.config = config
        self.shared = settings
        self._own: dict[str, Settings] = {}

    def settings_for(self, tenant: str) -> Settings:
        """Settings whose cache is ``tenant``'s own (or the shared one when sharing is on)."""
        if not self.config.cache or self.config.share_cache or not tenant:
            return self.shared
        settings = self._own.get(tenant)
        if settings is None:
            shared = self.config.resolved_cache_path
            path = _private_cache(shared.with_name(f"{shared.stem}-{tenant[:32]}{shared.suffix}"))
            settings = self._own[tenant] = self.shared.model_copy(update={"cache_path": path})
        return settings

    def paths(self) -> list[Path]:
        return [Path(s.cache_path) for s in (self.shared, *self._own.values())]


def _private_cache(path: Path) -> Path:
    if not path.parent.exists():
        private_dir(path.parent)
    return private_file(path)


def client_keys(config: GatewayConfig) -> ClientKeys:
    """Keys from the flags/environment and the keys file, with the per-key defaults."""
    keys = [ClientKey(k) for k in config.client_keys]
    if config.keys_file is not None:
        keys += read_keys_file(Path(config.keys_file))
    return ClientKeys(keys, rpm=config.key_rpm, tpm=config.key_tpm,
                      max_priority=config.key_max_priority, metrics_key=config.metrics_key)


def engine_settings(config: GatewayConfig, upstream: Upstream) -> Settings:
    """Core settings for the upstream calls: environment for timeouts etc., flags on top."""
    return core_settings.resolve(
        base_url=upstream.base_url,
        api_key=upstream.api_key,
        model=upstream.served_model,
        rpm=config.rpm,
        tpm=config.tpm,
        concurrency=config.concurrency,
        cache=config.cache,
        cache_path=config.resolved_cache_path,
        history_path=Path(config.state_dir) / "history.sqlite",
    )


def build_state(config: GatewayConfig, upstream: Upstream, keys: ClientKeys,
                admission: Admission) -> GatewayState:
    """Wire the pieces; call inside the server's event loop (the lifespan) or before it."""
    settings = engine_settings(config, upstream)
    slots = PrioritySlots(config.concurrency)
    engine = GatewayEngine(slots)
    store = GatewayStore(config.state_dir)
    if config.cache:  # open (and create, private) the file now, not on a first request
        get_cache(_private_cache(Path(settings.cache_path)))

    async def fetch_models() -> dict[str, Any]:
        endpoint = upstream.endpoint(upstream.served_model or "")
        try:
            raw = await get_client(endpoint, settings).get("/models", cast_to=RAW_RESPONSE)
            return raw.json()
        except Exception as err:  # noqa: BLE001 - every failure becomes one of our errors
            raise translate_error(err, endpoint) from None

    catalog = ModelCatalog(fetch_models, ttl_s=config.models_ttl_s,
                           served_model=upstream.served_model)
    caches = TenantCaches(config, settings)
    limits = KeyLimits(shared_tpm=config.tpm)
    lines = LineRunner(store, engine, upstream, caches.settings_for, catalog, limits,
                       config.concurrency, config.cache)
    batches = GatewayBatches(store, lines, max_file_bytes=config.max_file_bytes,
                             max_active=config.max_active_batches,
                             max_storage=config.max_storage_bytes,
                             window_s=config.batch_window_s, retry_s=config.batch_retry_s)
    return GatewayState(config, upstream, settings, engine, slots, catalog, store, batches,
                        keys, admission, caches, limits,
                        KeyShare(key_share_limit(config.key_concurrency, config.concurrency,
                                                 len(keys))))


def gateway_state(request: Request) -> GatewayState:
    return request.app.state.gateway
