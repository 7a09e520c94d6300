"""``llm-magics serve``: an OpenAI-compatible gateway over any upstream, or the local model.

Every client shares one response cache, one RPM/TPM limiter and one circuit
breaker (the core's policy stack), requests are ordered by ``X-LLM-Priority``,
streams are relayed token by token, and ``/v1/files`` + ``/v1/batches`` run
the real Batch API on top of any upstream, persisted in SQLite so a restart
resumes where it stopped. ``create_app`` gives the ASGI app to serve some other way::

    from llm_magics.server.gateway import GatewayConfig, create_app
    app = create_app(GatewayConfig(upstream="http://127.0.0.1:8000/v1", rpm=300))

Every client is treated as hostile (see the threat model in the docs): a
strict request model (``chat_model``), body caps and read timeouts (``body``),
``Host``/``Origin``/content-type rules (``admission``), client keys as
tenants with their own files, batches and cache (``tenants``) and their own
RPM/TPM share (``key_limits``).

Modules, one job each: ``config`` (options), ``upstream`` (where calls go,
the key), ``state`` (what clients share), ``engine`` (core engine + the
concurrency bound of ``slots``), ``catalog`` (model list), ``relay`` (wire <->
core, errors), ``chat`` and ``sse`` (chat routes, event relay), ``disconnect``,
``store`` (SQLite + files), ``batches`` and ``batch_lines`` (Batch API
lifecycle), ``metrics``, ``app``, ``cli``.
"""

from __future__ import annotations

from .app import GatewayApp, create_app
from .cli import main
from .config import CLIENT_KEYS_ENV, METRICS_KEY_ENV, GatewayConfig
from .upstream import Upstream, resolve_upstream

__all__ = [
    "CLIENT_KEYS_ENV",
    "GatewayApp",
    "GatewayConfig",
    "METRICS_KEY_ENV",
    "Upstream",
    "create_app",
    "main",
    "resolve_upstream",
]
