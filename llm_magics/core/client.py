"""The OpenAI SDK client: one ``AsyncOpenAI`` and one connection pool per endpoint.

Clients live on the core loop thread and are reused by every call, so
keep-alive connections are shared. The SDK's own retries are off
(``max_retries=0``): the policy stack is the one retry layer.

Also the one place where HTTP failures become ``llm_magics.errors``, for the SDK
and for the lean request path alike (``status_error``, ``timeout_error``,
``connection_error``), so no raw httpx or aiohttp traceback reaches a user, the
two paths fail the same way, and no message ever contains the API key.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from typing import Any

import openai
from aiohttp.http_exceptions import ContentEncodingError

try:  # the HTTP library under the SDK: httpx2 from openai 3 on, httpx before
    import httpx2 as _http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as _http

from .. import errors
from . import loop_thread
from .constants import RETRY_AFTER_MAX_S
from .endpoint import Endpoint
from .secrets import redact
from .settings import Settings

__all__ = [
    "get_client", "translate_error", "close_clients", "RAW_RESPONSE", "status_error",
    "timeout_error", "connection_error", "timed_out", "undecodable", "undecodable_error",
]

# ``cast_to`` that makes the SDK hand back the HTTP response as is: no request-params
# transform and no pydantic model per answer, which halves the client's CPU per call.
RAW_RESPONSE = _http.Response

DETAIL_CHARS = 200  # of a server's error body, quoted in our message

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


loop_thread.on_shutdown(close_clients)


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


def timed_out(err: BaseException) -> bool:
    """Whether a transport "timeout" really was one: the aiohttp adapter reports a refused
    or dropped connection as a connect timeout too, so look at the root cause."""
    root = err
    while root.__cause__ is not None:
        root = root.__cause__
    return isinstance(root, TimeoutError) or "Timeout" in type(root).__name__


def _status_detail(body: object) -> str:
    """What the server said about a failed status, the same whichever path read it.

    ``body`` is the error object (the ``error`` member of a JSON body unwrapped, as
    the SDK's ``APIStatusError.body`` holds it), the body's text, or None.
    """
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        return json.dumps(body, default=str)[:DETAIL_CHARS]
    if isinstance(body, str) and body.strip():
        return body.strip()[:DETAIL_CHARS]
    return "no details"


def _rate_limited(where: str, detail: str, retry_after_s: float | None) -> str:
    if retry_after_s is not None and retry_after_s > RETRY_AFTER_MAX_S:
        return (f"Rate limited by {where} (429: {detail}). The server asks to wait "
                f"{retry_after_s:.0f}s, longer than the {RETRY_AFTER_MAX_S:.0f}s llm-magics waits "
                "for a retry, so this call stops here: the quota is probably spent. Try again "
                "later, or check the account's limits.")
    return f"Rate limited by {where} (429: {detail}). Lower `rpm`/`tpm`/`concurrency`."


def translate_error(err: Exception, endpoint: Endpoint) -> errors.LLMError:
    """Map an SDK/httpx exception to one of ours, with the fix in the message."""
    ours = _translate(err, endpoint)
    shown = redact(ours.message, endpoint.api_key)  # servers may echo the key; URLs may hold one
    if shown != ours.message:
        ours.message = shown
        ours.args = (shown,)
    return ours


def _translate(err: Exception, endpoint: Endpoint) -> errors.LLMError:
    if isinstance(err, errors.LLMError):
        return err
    failure = undecodable(err)
    if failure is not None:
        return undecodable_error(endpoint, failure)
    if isinstance(err, (openai.APITimeoutError, _http.TimeoutException)) and timed_out(err):
        return timeout_error(endpoint)
    if isinstance(err, _http.TransportError):  # raised while reading a body that was started
        return connection_error(endpoint, err, started=True)
    if isinstance(err, openai.APIConnectionError):
        return connection_error(endpoint, err, started=False)
    if isinstance(err, openai.APIStatusError):
        return status_error(err.status_code, err.response.headers, err.body, endpoint)
    return errors.LLMError(f"Unexpected error calling {endpoint.base_url}: "
                           f"{type(err).__name__}: {err}")


_UNDECODABLE = (_http.DecodingError, ContentEncodingError)


def undecodable(err: BaseException) -> BaseException | None:
    """The failure to decode a body by its ``Content-Encoding`` behind ``err``, if that is
    what it was (the SDK wraps it as a connection error, aiohttp as a payload error)."""
    seen: BaseException | None = err
    for _ in range(8):  # a chain of causes is short; a cycle of contexts must not hang us
        if seen is None or isinstance(seen, _UNDECODABLE):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def undecodable_error(endpoint: Endpoint, failure: BaseException) -> errors.ServerError:
    """The server answered, but with a body its ``Content-Encoding`` does not decode."""
    detail = getattr(failure, "message", None) or str(failure) or type(failure).__name__
    return errors.ServerError(
        f"{endpoint.base_url} sent a body that its Content-Encoding does not decode ({detail}). "
        "A proxy in between may label the body wrongly; check it, or call the server directly."
    )


def timeout_error(endpoint: Endpoint) -> errors.APITimeoutError:
    """The transport's own bound fired (``connect_timeout`` / ``read_timeout``)."""
    return errors.APITimeoutError(
        f"{endpoint.base_url} sent nothing for read_timeout (or did not connect within "
        "connect_timeout). Raise `read_timeout` in llm_magics.configure() if the model is "
        "slow, or check the server."
    )


def connection_error(endpoint: Endpoint, err: BaseException, *,
                     started: bool) -> errors.APIConnectionError:
    """``started``: the answer's body had begun, so the connection broke rather than failed."""
    where = endpoint.base_url
    if started:
        return errors.APIConnectionError(
            f"The connection to {where} broke during the answer ({type(err).__name__}). "
            "Run again; if it keeps happening, check the server or a proxy in between."
        )
    return errors.APIConnectionError(
        f"Cannot reach {where}: is the server running and the base_url right? "
        "Set it with llm_magics.configure(base_url=...) or OPENAI_BASE_URL."
    )


def status_error(status: int, headers: Any, body: object,
                 endpoint: Endpoint) -> errors.LLMError:
    """The error for an HTTP status >= 400; ``body`` as ``_status_detail`` takes it."""
    where = endpoint.base_url
    context = {
        "status_code": status,
        "request_id": headers.get("x-request-id"),
        "retry_after_s": _retry_after(headers),
        "body": body,
    }
    detail = _status_detail(body)
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
        return errors.RateLimitError(_rate_limited(where, detail, context["retry_after_s"]),
                                     **context)
    if status >= 500 or status in (408, 409):
        return errors.ServerError(f"{where} failed with {status}: {detail}", **context)
    return errors.InvalidRequestError(f"{where} refused the request ({status}): {detail}",
                                      **context)
