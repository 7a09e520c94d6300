"""Who may talk to the gateway at all: the ``Host`` allow-list, origins (CORS), content types.

A gateway on loopback without keys is safe from the network but not from the
browser: any web page can POST ``text/plain`` or a form to it (a "simple"
request needs no CORS preflight), and a page on a domain that re-resolves to
127.0.0.1 (DNS rebinding) can even read the answers. As Jupyter Server does,
the ``Host`` header must name this gateway (a loopback name, the bound
address, or an ``--allowed-host``), a request with an ``Origin`` must come
from a ``--cors-origin``, and JSON routes take only ``application/json``
(which a page cannot send cross-origin without a preflight we refuse).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.responses import Response
from starlette.types import Scope

from ...errors import ConfigurationError
from ..openai_shapes import ErrorReply

__all__ = ["Admission", "JSON_ROUTES", "is_loopback", "refuse_open_exposure"]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
JSON_ROUTES = frozenset({"/v1/chat/completions", "/v1/batches"})
"""POST routes whose body is JSON (what ``--max-body-mb`` and the content-type rule cover)."""

_PREFLIGHT_MAX_AGE = "600"


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refuse_open_exposure(host: str, keys_enabled: bool, allowed: bool) -> None:
    """A gateway without client keys serves loopback only, unless the operator insists."""
    if keys_enabled or allowed or is_loopback(host):
        return
    raise ConfigurationError(
        f"Refusing to serve {host} without client keys: anyone who can reach it could spend "
        "the upstream key. Set LLM_MAGICS_GATEWAY_KEYS (or --keys-file), bind 127.0.0.1, or "
        "pass --allow-remote-keyless if this network is really private.")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _hostname(host: str) -> str:
    """``Host`` without its port: ``[::1]:8787`` -> ``::1``, ``Example.com.:80`` -> ``example.com``.
    """
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


class Admission:
    """The ``Host``/``Origin``/content-type rules for one gateway bound to ``bound_host``."""

    def __init__(self, bound_host: str, allowed_hosts: Iterable[str] = (),
                 cors_origins: Iterable[str] = ()) -> None:
        allowed = [h.strip().lower() for h in allowed_hosts if h.strip()]
        self.any_host = "*" in allowed or (bound_host in WILDCARD_HOSTS and not allowed)
        self.hosts = frozenset({*LOOPBACK_NAMES, "127.0.0.1", "::1", _hostname(bound_host),
                                *(_hostname(h) for h in allowed)})
        origins = [o.strip().rstrip("/").lower() for o in cors_origins if o.strip()]
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)

    def origin_allowed(self, origin: str) -> bool:
        return self.any_origin or origin.rstrip("/").lower() in self.origins

    def check(self, scope: Scope) -> ErrorReply | None:
        """The 403/415 for a request this gateway must not serve, or ``None``."""
        host = _header(scope, b"host")
        if host is not None and not self.any_host and _hostname(host) not in self.hosts \
                and not is_loopback(_hostname(host)):
            return ErrorReply(
                403, f"Host '{host}' is not allowed. If you reach the gateway by that name, "
                "start it with --allowed-host NAME.", code="host_not_allowed")
        origin = _header(scope, b"origin")
        if origin is not None and not self.origin_allowed(origin):
            return ErrorReply(
                403, f"Cross-origin requests from {origin!r} are refused. To let a web page "
                "call the gateway, start it with --cors-origin ORIGIN.",
                code="origin_not_allowed")
        if scope["method"] == "POST" and scope["path"] in JSON_ROUTES:
            kind = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
            if kind != "application/json":
                return ErrorReply(
                    415, f"Expected 'Content-Type: application/json', got {kind or 'none'!r}; "
                    "send the body as JSON.", code="unsupported_media_type")
        return None

    def cors_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """Headers that let an allowed origin read the answer (none without ``Origin``)."""
        origin = _header(scope, b"origin")
        if origin is None:
            return []
        return [(b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-expose-headers", b"retry-after, x-llm-cache"),
                (b"vary", b"Origin")]

    def preflight(self, scope: Scope) -> Response | None:
        """The answer to a CORS preflight (``OPTIONS`` with ``Origin``), after :meth:`check`."""
        if scope["method"] != "OPTIONS" or _header(scope, b"origin") is None:
            return None
        requested = _header(scope, b"access-control-request-headers") or ""
        headers = {k.decode(): v.decode("latin-1") for k, v in self.cors_headers(scope)}
        headers.update({
            "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
            "access-control-allow-headers": requested or "authorization, content-type",
            "access-control-max-age": _PREFLIGHT_MAX_AGE,
        })
        return Response(status_code=204, headers=headers)
