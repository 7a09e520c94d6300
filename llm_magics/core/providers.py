"""Endpoint resolution: settings in, an ``Endpoint`` out, asking a provider when none is set.

A *provider* supplies an endpoint when the settings name no server and no key:
the embedded local model is one (``llm_magics.local.provider``), plugged in by
the package's wiring (``llm_magics._wiring``) through ``core.registry``, so
the core never imports it.
A provider has two ways to answer: ``endpoint(settings)`` may start something
and block for seconds; ``placeholder(settings)`` answers at once without I/O,
for estimates and plans that must not start a model.

    >>> from llm_magics.core.settings import resolve
    >>> resolve_endpoint(resolve(base_url="http://127.0.0.1:9/v1")).base_url
    'http://127.0.0.1:9/v1'
"""

from __future__ import annotations

from typing import Protocol

from .. import errors
from .endpoint import HOSTED_DEFAULT_MODEL, NO_KEY, OPENAI_HOST, Endpoint, hosted_base_url
from .registry import default_provider
from .settings import Settings

__all__ = [
    "Provider", "resolve_endpoint", "planning_endpoint",
    "keyless_endpoint", "needs_provider", "default_provider_endpoint",
]


class Provider(Protocol):
    name: str

    def endpoint(self, settings: Settings) -> Endpoint:
        """The endpoint to call; may start a server (blocking)."""
        ...

    def placeholder(self, settings: Settings) -> Endpoint:
        """A stand-in endpoint for planning, without any I/O."""
        ...


def needs_provider(settings: Settings) -> bool:
    """True when these settings name no server and no key: a provider must supply one."""
    return settings.base_url is None and settings.api_key is None


def default_provider_endpoint(settings: Settings) -> Endpoint:
    """The default provider's endpoint whatever the settings say (the gateway's ``local``)."""
    return default_provider().endpoint(settings)


def resolve_endpoint(settings: Settings) -> Endpoint:
    """Base URL, model and key for these settings; the default provider when none is set."""
    if needs_provider(settings):
        return default_provider().endpoint(settings)
    key = settings.key_value()
    base_url = settings.base_url or hosted_base_url()
    if key is None and OPENAI_HOST in base_url:
        raise errors.ConfigurationError(
            "No API key for api.openai.com: set OPENAI_API_KEY, or call "
            "llm_magics.configure(api_key=...), or `%llm_config api_key=...`."
        )
    return Endpoint(base_url, settings.model or HOSTED_DEFAULT_MODEL, key or NO_KEY)


def planning_endpoint(settings: Settings) -> tuple[Endpoint, bool]:
    """The endpoint a call would use, without starting anything; ``False`` if only a stand-in.

    A stand-in's URL is not the real one, so the cache (keyed by URL) cannot be
    asked about it.
    """
    if needs_provider(settings):
        return default_provider().placeholder(settings), False
    return resolve_endpoint(settings), True


def keyless_endpoint(settings: Settings) -> Endpoint:
    """Where calls go when another process holds the key (queue workers): no key, no I/O."""
    return Endpoint(settings.base_url or hosted_base_url(),
                    settings.model or HOSTED_DEFAULT_MODEL, NO_KEY)
