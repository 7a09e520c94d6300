"""The engine: runs one request through the policy stack, for every face and mode.

    request -> cache -> [per attempt: breaker -> limiter -> client] under retry

The breaker and the limiter are checked on every attempt, inside the retry
loop: a retry is a new request that needs a rate-limit slot, and an endpoint
that went down opens the breaker after ``breaker_threshold`` failed attempts
rather than after that many fully-retried calls. One limiter and one breaker
exist per (base_url, model) for the whole process.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import openai

from .. import errors
from .client import RAW_RESPONSE, Endpoint, get_client, translate_error
from .cost import cost_usd
from .policy.breaker import CircuitBreaker
from .policy.cache import ResponseCache, get_cache
from .policy.limiter import Permit, RateLimiter
from .policy.retry import retrying
from .request_fields import sdk_arguments
from .settings import Settings
from .tokens import estimate_prompt_tokens, estimate_request_tokens
from .types import Request, Response, Usage

__all__ = ["Engine", "CallStats", "get_engine"]


@dataclass
class CallStats:
    """Counters a caller can watch while its calls run (progress widgets read these)."""

    attempts: int = 0
    retries: int = 0
    rate_limited: int = 0
    cached: int = 0
    completed: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add_response(self, response: Response) -> None:
        self.completed += 1
        self.cached += response.cached
        self.prompt_tokens += response.usage.prompt_tokens
        self.completion_tokens += response.usage.completion_tokens
        if response.cost_usd:
            self.cost_usd += response.cost_usd


def _is_endpoint_failure(err: errors.LLMError) -> bool:
    """Failures that say the endpoint is unhealthy (what the breaker counts)."""
    return isinstance(err, (errors.APIConnectionError, errors.APITimeoutError, errors.ServerError))


LimiterFactory = Callable[[Endpoint, Settings], Any]


class Engine:
    """Holds the per-endpoint policy objects every call in the process shares.

    ``limiter_factory`` swaps the in-process ``RateLimiter`` for another object with
    the same methods (``active``, ``acquire``, ``pause``, ``observe_headers``,
    ``correct_tokens``, ``set_limits``, ``snapshot``): Celery workers plug in a
    Redis-backed limiter so every worker shares one account's limits.
    """

    def __init__(self, limiter_factory: LimiterFactory | None = None) -> None:
        self.limiters: dict[tuple[str, str], RateLimiter] = {}
        self.breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self.totals = CallStats()
        self.limiter_factory = limiter_factory

    # -- shared per-endpoint policy --------------------------------------------------------
    def limiter_for(self, endpoint: Endpoint, settings: Settings) -> RateLimiter:
        key = (endpoint.base_url, endpoint.model)
        limiter = self.limiters.get(key)
        if limiter is None:
            if self.limiter_factory is not None:
                limiter = self.limiter_factory(endpoint, settings)
            else:
                limiter = RateLimiter(settings.rpm, settings.tpm,
                                      name=f"{endpoint.base_url} {endpoint.model}")
            self.limiters[key] = limiter
        else:
            limiter.set_limits(settings.rpm, settings.tpm)
        return limiter

    def breaker_for(self, endpoint: Endpoint, settings: Settings) -> CircuitBreaker:
        key = (endpoint.base_url, endpoint.model)
        breaker = self.breakers.get(key)
        if breaker is None:
            breaker = self.breakers[key] = CircuitBreaker(
                f"{endpoint.base_url} ({endpoint.model})",
                threshold=settings.breaker_threshold,
                cooldown_s=settings.breaker_cooldown_s,
            )
        else:
            breaker.configure(settings.breaker_threshold, settings.breaker_cooldown_s)
        return breaker

    def status(self) -> dict[str, Any]:
        return {
            "endpoints": {
                f"{url} {model}": {
                    "breaker": self.breakers[(url, model)].snapshot()
                    if (url, model) in self.breakers else None,
                    "limiter": self.limiters[(url, model)].snapshot()
                    if (url, model) in self.limiters else None,
                }
                for url, model in {*self.limiters, *self.breakers}
            },
            "totals": self.totals.__dict__.copy(),
        }

    # -- one attempt under the policy ------------------------------------------------------
    async def _attempts(
        self,
        request: Request,
        endpoint: Endpoint,
        settings: Settings,
        stats: CallStats,
        call: Callable[[RateLimiter], Any],
    ) -> Any:
        breaker = self.breaker_for(endpoint, settings)
        limiter = self.limiter_for(endpoint, settings)
        estimate = estimate_request_tokens(request.messages, request.max_tokens)
        async for attempt in retrying(settings):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    stats.retries += 1
                    self.totals.retries += 1
                breaker.before_call()
                permit = (await limiter.acquire(estimate, request.priority)
                          if limiter.active else Permit(None, estimate))
                stats.attempts += 1
                self.totals.attempts += 1
                try:
                    result, usage = await call(limiter)
                except errors.LLMError as err:
                    self._on_error(err, limiter, breaker, stats)
                    raise
                except BaseException:
                    breaker.release_probe()
                    raise
                breaker.on_success()
                permit.settle(usage.total_tokens if usage else None)
                return result
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _on_error(self, err: errors.LLMError, limiter: RateLimiter, breaker: CircuitBreaker,
                  stats: CallStats) -> None:
        if err.status_code == 429:
            stats.rate_limited += 1
            self.totals.rate_limited += 1
            limiter.pause(err.retry_after_s if err.retry_after_s is not None else 1.0)
        if _is_endpoint_failure(err):
            breaker.on_failure()
        elif err.status_code is not None:
            breaker.on_success()  # any 4xx answer proves the endpoint is up
        else:
            breaker.release_probe()

    # -- non-streaming ---------------------------------------------------------------------
    async def complete(
        self,
        request: Request,
        endpoint: Endpoint,
        settings: Settings,
        *,
        stats: CallStats | None = None,
        use_cache: bool | None = None,
        looked_up: bool = False,
    ) -> Response:
        """``looked_up=True``: the caller already missed the cache for this request."""
        stats = stats if stats is not None else CallStats()
        cache = self.cache_for(settings, use_cache)
        key = request.cache_key() if cache is not None else ""
        if cache is not None and not looked_up and (hit := cache.get(key)) is not None:
            stats.add_response(hit)
            return hit
        client = get_client(endpoint, settings)

        async def call(limiter: RateLimiter) -> tuple[Response, Usage]:
            started = time.perf_counter()
            try:
                raw = await client.post("/chat/completions", body=_wire_body(request, endpoint),
                                        cast_to=RAW_RESPONSE, options=_priority_header(request))
                body = raw.json()
            except (openai.OpenAIError, errors.LLMError) as err:
                raise translate_error(err, endpoint) from None
            except ValueError:
                raise errors.ServerError(
                    f"{endpoint.base_url} answered with a body that is not JSON."
                ) from None
            limiter.observe_headers(raw.headers)
            response = self._response_from_body(body, request, time.perf_counter() - started)
            return response, response.usage

        try:
            response = await self._attempts(request, endpoint, settings, stats, call)
        except errors.LLMError:
            stats.failed += 1
            self.totals.failed += 1
            raise
        stats.add_response(response)
        self.totals.add_response(response)
        if cache is not None:
            cache.put(key, response)
        return response

    @staticmethod
    def cache_for(settings: Settings, use_cache: bool | None) -> ResponseCache | None:
        enabled = settings.cache if use_cache is None else use_cache
        return get_cache(settings.cache_path) if enabled else None

    @staticmethod
    def _response_from_body(body: dict[str, Any], request: Request, latency: float) -> Response:
        try:
            choice = body["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise errors.ServerError(
                f"The server sent a response without choices: {json.dumps(body)[:200]}"
            ) from None
        u = body.get("usage") or {}
        usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
        model = body.get("model") or request.model
        return Response(
            text=text,
            model=model,
            usage=usage,
            cost_usd=cost_usd(request.model, usage),
            latency_s=latency,
            finish_reason=choice.get("finish_reason"),
            raw=body,
        )

    # -- streaming -------------------------------------------------------------------------
    async def stream(
        self,
        request: Request,
        endpoint: Endpoint,
        settings: Settings,
        *,
        stats: CallStats | None = None,
        use_cache: bool | None = None,
    ) -> AsyncIterator[str | Response]:
        """Yield text deltas, then the final ``Response`` as the last item.

        A stream that breaks before its first token is retried like any call; one
        that breaks after emitting text ends with ``StreamInterruptedError``
        carrying the partial text (restarting would duplicate what was shown).
        """
        stats = stats if stats is not None else CallStats()
        cache = self.cache_for(settings, use_cache)
        key = request.cache_key() if cache is not None else ""
        if cache is not None and (hit := cache.get(key)) is not None:
            stats.add_response(hit)
            yield hit.text
            yield hit
            return
        client = get_client(endpoint, settings)
        started = time.perf_counter()
        idle = settings.stream_idle_timeout

        async def next_chunk(chunks: Any) -> Any:
            try:
                return await asyncio.wait_for(chunks.__anext__(), idle)
            except asyncio.TimeoutError:
                raise errors.APITimeoutError(
                    f"The stream from {endpoint.base_url} sent nothing for {idle:.0f}s "
                    "(stream_idle_timeout)."
                ) from None
            except StopAsyncIteration:
                raise
            except (openai.OpenAIError, errors.LLMError) as err:
                raise translate_error(err, endpoint) from None
            except Exception as err:  # noqa: BLE001 - a malformed chunk fails inside the SDK
                raise errors.ServerError(
                    f"The stream from {endpoint.base_url} broke: {type(err).__name__}: {err}"
                ) from None

        async def open_until_first_text(limiter: RateLimiter) -> tuple[Any, None]:
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    **sdk_arguments(_wire_body(request, endpoint, stream=True)),
                    extra_headers=_priority_header(request)["headers"],
                )
            except (openai.OpenAIError, errors.LLMError) as err:
                raise translate_error(err, endpoint) from None
            limiter.observe_headers(raw.headers)
            chunks = raw.parse().__aiter__()
            head: list[Any] = []
            try:
                while True:
                    try:
                        chunk = await next_chunk(chunks)
                    except StopAsyncIteration:
                        break
                    head.append(chunk)
                    if _delta_text(chunk):
                        break
            except BaseException:
                await chunks.aclose() if hasattr(chunks, "aclose") else None
                raise
            return (chunks, head), None

        try:
            chunks, head = await self._attempts(request, endpoint, settings, stats,
                                                open_until_first_text)
        except errors.LLMError:
            stats.failed += 1
            self.totals.failed += 1
            raise
        ttft = time.perf_counter() - started
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        model = request.model
        pending = list(head)
        try:
            while True:
                if pending:
                    chunk = pending.pop(0)
                else:
                    try:
                        chunk = await next_chunk(chunks)
                    except StopAsyncIteration:
                        break
                model = getattr(chunk, "model", None) or model
                if getattr(chunk, "usage", None):
                    usage = Usage(chunk.usage.prompt_tokens or 0,
                                  chunk.usage.completion_tokens or 0)
                if chunk.choices and chunk.choices[0].finish_reason:
                    finish = chunk.choices[0].finish_reason
                text = _delta_text(chunk)
                if text:
                    parts.append(text)
                    yield text
        except errors.LLMError as err:
            stats.failed += 1
            self.totals.failed += 1
            partial = "".join(parts)
            raise errors.StreamInterruptedError(
                f"The stream broke after {len(partial)} characters ({err.message}). "
                "The partial text is kept; run again for a full answer.",
                partial_text=partial,
            ) from None
        finally:
            if hasattr(chunks, "aclose"):
                await chunks.aclose()
        text = "".join(parts)
        if usage is None:  # server ignored stream_options.include_usage
            usage = Usage(estimate_prompt_tokens(request.messages), len(parts))
        response = Response(
            text=text,
            model=model,
            usage=usage,
            cost_usd=cost_usd(request.model, usage),
            latency_s=time.perf_counter() - started,
            ttft_s=ttft,
            finish_reason=finish,
        )
        stats.add_response(response)
        self.totals.add_response(response)
        if cache is not None:
            cache.put(key, response)
        yield response


def _wire_body(request: Request, endpoint: Endpoint, *, stream: bool = False) -> dict[str, Any]:
    """The JSON body to send; the embedded llama.cpp server needs a few fields reshaped."""
    body = request.body(stream=stream)
    if endpoint.local:
        from ..local.compat import adapt_request

        body = adapt_request(body)
    return body


PRIORITY_HEADER = "X-LLM-Priority"


def _priority_header(request: Request) -> dict[str, Any]:
    """Tells an llm-magics gateway how to queue this call among its other clients."""
    return {"headers": {PRIORITY_HEADER: request.priority}}


def _delta_text(chunk: Any) -> str:
    if not chunk.choices:
        return ""
    return chunk.choices[0].delta.content or ""


_engine: Engine | None = None


def get_engine() -> Engine:
    """The process-wide engine (one limiter and breaker per endpoint for everyone)."""
    global _engine
    if _engine is None:
        _engine = Engine()
    return _engine
