"""The embedded model as a core provider: what endpoint resolution asks when nothing is set.

The endpoint it returns carries the differences of llama.cpp's server, so the
core needs no ``if local`` anywhere: requests are reshaped by ``adapt_request``,
fan-outs are capped at ``MAX_CONCURRENCY`` (the server answers one request at a
time; more calls in flight only wait and time out), and it has no Batch API.
"""

from __future__ import annotations

from ..core.endpoint import NO_KEY, Endpoint
from ..core.settings import Settings
from .compat import adapt_request
from .manager import ensure_server

__all__ = ["EmbeddedModel", "PLACEHOLDER_URL", "MAX_CONCURRENCY", "PROVIDER_NAME"]

PROVIDER_NAME = "embedded"
PLACEHOLDER_URL = "local://embedded"
MAX_CONCURRENCY = 2


def _endpoint(base_url: str, model: str) -> Endpoint:
    return Endpoint(base_url, model, NO_KEY, provider=PROVIDER_NAME,
                    max_concurrency=MAX_CONCURRENCY, adapt_body=adapt_request,
                    has_batch_api=False)


class EmbeddedModel:
    """Starts (or reuses) the local llama.cpp server with the packaged SmolLM2."""

    name = PROVIDER_NAME

    def endpoint(self, settings: Settings) -> Endpoint:
        server = ensure_server()
        return _endpoint(server.base_url, server.model)

    def placeholder(self, settings: Settings) -> Endpoint:
        return _endpoint(PLACEHOLDER_URL, settings.model or "local")
