"""Who is calling: each client key is a tenant with its own files, batches, cache and limits.

A tenant is known by a hash of its key (``Tenant.id``); that hash is what the
store records as an owner, and what names a tenant's cache file, so the key
itself is never written anywhere. Looking the hash up in a dict takes the
same time whatever the key, so timing reveals nothing about valid keys.

Keys come from ``--client-keys``/``LLM_MAGICS_GATEWAY_KEYS`` (with the
``--key-rpm``/``--key-tpm`` defaults) and from an optional JSON keys file
whose entries may set their own limits and the highest priority their requests
may ask for (``X-LLM-Priority`` above it is served at it)::

    [{"key": "sk-team-a", "rpm": 120, "tpm": 200000}, {"key": "sk-etl", "max_priority": "bulk"}]
"""

from __future__ import annotations

import hashlib
import json
import logging
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.types import Scope

from ...core.types import PRIORITY_RANK, Priority
from ...errors import ConfigurationError
from ..auth import MISSING_KEY_MESSAGE, bearer_token
from ..openai_shapes import ErrorReply, unauthorized

__all__ = ["OPEN", "TENANT_KEY", "ClientKey", "ClientKeys", "Tenant", "key_hash", "key_id",
           "read_keys_file", "tenant_of"]

log = logging.getLogger("llm_magics.gateway")

TENANT_KEY = "llm_magics.tenant"
"""Scope key holding the :class:`Tenant` a request was authenticated as."""


@dataclass(frozen=True)
class Tenant:
    id: str
    """Hash of the client key; ``""`` for the single tenant of a keyless gateway."""
    rpm: int | None = None
    tpm: int | None = None
    metrics_only: bool = False
    max_priority: Priority = "interactive"
    """The highest priority this key's requests get, whatever ``X-LLM-Priority`` asks."""

    def capped(self, priority: Priority) -> Priority:
        """``priority``, or this key's ``max_priority`` when that ranks lower."""
        return max(priority, self.max_priority, key=PRIORITY_RANK.__getitem__)


OPEN = Tenant("")


@dataclass(frozen=True)
class ClientKey:
    key: str = field(repr=False)
    rpm: int | None = None
    tpm: int | None = None
    max_priority: Priority | None = None


def key_hash(key: str) -> str:
    return hashlib.sha256(b"llm-magics gateway tenant\0" + key.encode()).hexdigest()


KEY_ID_CHARS = 16


def key_id(tenant_id: str) -> str:
    """What the call log names a client by: the start of its key's hash (``key_hash``), so an
    operator can map a key to its rows (``llm-magics serve --key-id KEY``) and the log never
    holds the key. ``""`` for a keyless gateway's one tenant."""
    return tenant_id[:KEY_ID_CHARS]


def tenant_of(scope: Scope) -> Tenant:
    return scope.get(TENANT_KEY, OPEN)


def _limit(entry: dict[str, Any], name: str, where: str) -> int | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(f"{where}: '{name}' must be a whole number >= 1.")
    return value


def _max_priority(entry: dict[str, Any], where: str) -> Priority | None:
    value = entry.get("max_priority")
    if value is not None and value not in PRIORITY_RANK:
        raise ConfigurationError(
            f"{where}: 'max_priority' must be interactive, high or bulk, not {value!r}.")
    return value  # type: ignore[no-any-return]


def read_keys_file(path: Path) -> list[ClientKey]:
    """The keys file's entries; a clear error for a file that is not the documented shape."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"--keys-file {path}: cannot read it as JSON ({exc}).") from None
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("--keys-file %s is readable by other users; chmod 600 it", path)
    if not isinstance(data, list):
        raise ConfigurationError(
            f'--keys-file {path}: expected a JSON list such as [{{"key": "...", "rpm": 60}}].')
    keys = []
    for number, entry in enumerate(data, start=1):
        where = f"--keys-file {path}, entry {number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) \
                or not entry["key"].strip():
            raise ConfigurationError(f'{where}: expected an object with a non-empty "key".')
        unknown = set(entry) - {"key", "rpm", "tpm", "max_priority", "name"}
        if unknown:
            raise ConfigurationError(f"{where}: unknown field(s) {sorted(unknown)}; "
                                     "use key, rpm, tpm, max_priority, name.")
        keys.append(ClientKey(entry["key"].strip(), _limit(entry, "rpm", where),
                              _limit(entry, "tpm", where), _max_priority(entry, where)))
    return keys


class ClientKeys:
    """The accepted keys; :meth:`identify` returns the caller's tenant, or the 401 to send."""

    def __init__(self, keys: Iterable[ClientKey], *, rpm: int | None = None,
                 tpm: int | None = None, max_priority: Priority = "interactive",
                 metrics_key: str | None = None) -> None:
        self._tenants: dict[str, Tenant] = {}
        for entry in keys:
            digest = key_hash(entry.key)
            self._tenants[digest] = Tenant(digest, entry.rpm or rpm, entry.tpm or tpm,
                                           max_priority=entry.max_priority or max_priority)
        self.open = Tenant("", rpm, tpm, max_priority=max_priority)
        self._metrics = key_hash(metrics_key) if metrics_key else None

    @property
    def enabled(self) -> bool:
        """False when no client key is configured: every caller is the one open tenant."""
        return bool(self._tenants)

    def __len__(self) -> int:
        return len(self._tenants)

    def identify(self, scope: Scope, *, metrics: bool = False) -> Tenant | ErrorReply:
        guarded = self.enabled or (metrics and self._metrics is not None)
        if not guarded:
            return self.open
        token = bearer_token(scope)
        if token is None:
            return ErrorReply(401, MISSING_KEY_MESSAGE)
        digest = key_hash(token)
        tenant = self._tenants.get(digest)
        if tenant is not None:
            return tenant
        if metrics and digest == self._metrics:
            return Tenant("", metrics_only=True)
        return unauthorized()

    def __repr__(self) -> str:
        return f"ClientKeys({len(self._tenants)} key(s))"
