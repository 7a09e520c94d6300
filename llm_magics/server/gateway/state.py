"""Everything one gateway shares between its clients, built once per app.

One engine (so one cache, one breaker and one RPM/TPM limiter per upstream
model for every client and every batch), one concurrency bound, one model
catalog, one store. Several gateways can run in one process (tests), each
with its own state; nothing here is a module-level global.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from ...core import settings as core_settings
from ...core.client import RAW_RESPONSE, get_client, translate_error
from ...core.policy.cache import get_cache
from ...core.settings import Settings
from ..auth import BearerKeys
from .batch_lines import LineRunner
from .batches import GatewayBatches
from .catalog import ModelCatalog
from .config import GatewayConfig
from .engine import GatewayEngine
from .slots import PrioritySlots
from .store import GatewayStore
from .upstream import Upstream

__all__ = ["GatewayState", "Traffic", "build_state", "engine_settings", "gateway_state"]


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
    keys: BearerKeys
    traffic: Traffic = field(default_factory=Traffic)

    @property
    def use_cache(self) -> bool:
        return self.config.cache


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
    )


def build_state(config: GatewayConfig, upstream: Upstream) -> GatewayState:
    """Wire the pieces; call inside the server's event loop (the lifespan) or before it."""
    settings = engine_settings(config, upstream)
    slots = PrioritySlots(config.concurrency)
    engine = GatewayEngine(slots)
    if config.cache:
        get_cache(settings.cache_path)  # open (and create) the file now, not on a first request

    async def fetch_models() -> dict[str, Any]:
        endpoint = upstream.endpoint(upstream.served_model or "")
        try:
            raw = await get_client(endpoint, settings).get("/models", cast_to=RAW_RESPONSE)
            return raw.json()
        except Exception as err:  # noqa: BLE001 - every failure becomes one of our errors
            raise translate_error(err, endpoint) from None

    catalog = ModelCatalog(fetch_models, ttl_s=config.models_ttl_s,
                           served_model=upstream.served_model)
    store = GatewayStore(config.state_dir)
    lines = LineRunner(store, engine, upstream, settings, catalog, config.concurrency,
                       config.cache)
    batches = GatewayBatches(store, lines, max_file_bytes=config.max_file_bytes,
                             window_s=config.batch_window_s, retry_s=config.batch_retry_s)
    return GatewayState(config, upstream, settings, engine, slots, catalog, store, batches,
                        BearerKeys(config.client_keys))


def gateway_state(request: Request) -> GatewayState:
    return request.app.state.gateway
