"""Where the gateway sends requests: a base URL and its key, or the embedded local model.

The key is read once from the environment (``OPENAI_API_KEY`` through the
core's settings, or the variable named by ``--upstream-key-env``) and lives
only in :class:`Upstream`, whose repr leaves it out; responses, logs, the
cache and the batch store never see it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from ...core.endpoint import NO_KEY, Endpoint
from ...core.providers import default_provider_endpoint
from ...core.settings import resolve
from ...errors import ConfigurationError

__all__ = ["LOCAL", "Upstream", "resolve_upstream", "upstream_key"]

LOCAL = "local"
UPSTREAM_NAME = "the upstream"
"""What client-facing messages say instead of the upstream's address."""


@dataclass(frozen=True)
class Upstream:
    """The one server behind the gateway.

    ``served_model`` is set for the local model: llama.cpp holds one model, so
    every requested name is sent as that one (as the library itself does).
    """

    base_url: str
    api_key: str = field(repr=False)
    served_model: str | None = None
    provided: Endpoint | None = field(default=None, repr=False)
    """The provider's endpoint when the upstream is the default provider (``local``)."""

    @property
    def local(self) -> bool:
        return self.served_model is not None

    def endpoint(self, model: str) -> Endpoint:
        if self.provided is not None:
            return replace(self.provided, model=model)
        return Endpoint(self.base_url, model, self.api_key)

    def scrub(self, text: str) -> str:
        """``text`` with the upstream's key and address masked, for anything a client sees.

        Core error messages name the endpoint (``cannot reach http://...``, the
        breaker of ``http://... (model)``); a client of the gateway has no use
        for the upstream's address, and an operator may not want it known.
        """
        if self.api_key and self.api_key != NO_KEY and self.api_key in text:
            text = text.replace(self.api_key, "***")
        parts = urlsplit(self.base_url)
        for secret in (self.base_url, parts.netloc, parts.hostname):
            if secret and secret in text:
                text = text.replace(secret, UPSTREAM_NAME)
        return text


def upstream_key(env_name: str | None) -> str | None:
    """The upstream key: from ``env_name`` if given (it must be set), else the core settings."""
    if env_name:
        value = os.environ.get(env_name)
        if not value:
            raise ConfigurationError(
                f"--upstream-key-env {env_name}: that environment variable is empty or unset."
            )
        return value
    return resolve().key_value()


def resolve_upstream(spec: str, key: str | None) -> Upstream:
    """``spec`` is a base URL or ``local`` (starts the embedded model if it is not running)."""
    if spec == LOCAL:
        provided = default_provider_endpoint(resolve())
        return Upstream(provided.base_url, NO_KEY, served_model=provided.model,
                        provided=provided)
    if not spec.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"--upstream {spec!r}: expected a base URL such as http://127.0.0.1:8000/v1, "
            "or 'local' for the embedded model."
        )
    if key is None and "api.openai.com" in spec:
        raise ConfigurationError(
            "No key for api.openai.com: set OPENAI_API_KEY or pass --upstream-key-env NAME."
        )
    return Upstream(spec.rstrip("/"), key or NO_KEY)
