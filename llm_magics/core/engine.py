"""The engine: runs one request through the policy stack, for every face and mode.

    request -> cache -> [per attempt: breaker -> limiter -> client] under retry

The breaker and the limiter are checked on every attempt, inside the retry
loop: a retry is a new request that needs a rate-limit slot, and an endpoint
that went down opens the breaker after ``breaker_threshold`` failed attempts
rather than after that many fully-retried calls. One limiter and one breaker
exist per (base_url, model) for the whole process (idle ones are dropped past
``MAX_IDLE_POLICIES`` names: ``core.policy.table``).

Time bounds (``core.bounds``): ``timeout`` caps each attempt and ``deadline_s``
everything the call waits for, both on the event loop. Only finished answers
(a ``finish_reason``, and ``[DONE]`` for a stream) are written to the cache.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .. import errors
from .answer import StreamProgress, response_from_bytes
from .bounds import Deadline, attempt_timeout_error, within
from .budget import check_call
from .call_stats import CallStats
from .chat_stream import chunk_reader, open_chat_stream, read_until_text
from .client import translate_error
from .constants import RATE_LIMIT_PAUSE_S
from .endpoint import Endpoint
from .history.record import Recorder, record, recorder_for
from .policy.breaker import CircuitBreaker
from .policy.cache import ResponseCache, get_cache
from .policy.limiter import Permit, RateLimiter
from .policy.retry import honoured_retry_after, is_retryable, retrying
from .policy.table import PolicyTable
from .settings import Settings
from .types import Request, Response, Usage
from .wire import post_chat

__all__ = ["Engine", "get_engine"]


def _is_endpoint_failure(err: errors.LLMError) -> bool:
    """Failures that say the endpoint is unhealthy (what the breaker counts)."""
    return isinstance(err, (errors.APIConnectionError, errors.APITimeoutError, errors.ServerError))


def _refused(err: errors.LLMError) -> bool:
    """The server turned the request down without generating anything (a 4xx other than 429,
    whose pause already empties the bucket)."""
    return err.status_code is not None and 400 <= err.status_code < 500 \
        and err.status_code != 429


LimiterFactory = Callable[[Endpoint, Settings], Any]


class Engine:
    """Holds the per-endpoint policy objects every call in the process shares.

    ``limiter_factory`` swaps the in-process ``RateLimiter`` for another object with
    the same methods (``active``, ``acquire``, ``pause``, ``observe_headers``,
    ``correct_tokens``, ``set_limits``, ``snapshot``, ``at_rest``): Celery workers plug in a
    Redis-backed limiter so every worker shares one account's limits.
    """

    def __init__(self, limiter_factory: LimiterFactory | None = None) -> None:
        self.limiters: PolicyTable[RateLimiter] = PolicyTable(lambda limiter: limiter.at_rest)
        self.breakers: PolicyTable[CircuitBreaker] = PolicyTable(lambda breaker: breaker.at_rest)
        self.totals = CallStats()
        self.limiter_factory = limiter_factory

    # -- shared per-endpoint policy --------------------------------------------------------
    def limiter_for(self, endpoint: Endpoint, settings: Settings) -> RateLimiter:
        key = (endpoint.base_url, endpoint.model)
        limiter = self.limiters.use(key)
        if limiter is None:
            if self.limiter_factory is not None:
                limiter = self.limiter_factory(endpoint, settings)
            else:
                limiter = RateLimiter(settings.rpm, settings.tpm,
                                      name=f"{endpoint.base_url} {endpoint.model}")
            self.limiters.add(key, limiter)
        else:
            limiter.set_limits(settings.rpm, settings.tpm)
        return limiter

    def breaker_for(self, endpoint: Endpoint, settings: Settings) -> CircuitBreaker:
        key = (endpoint.base_url, endpoint.model)
        breaker = self.breakers.use(key)
        if breaker is None:
            breaker = self.breakers.add(key, CircuitBreaker(
                f"{endpoint.base_url} ({endpoint.model})",
                threshold=settings.breaker_threshold,
                cooldown_s=settings.breaker_cooldown_s,
            ))
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
            "totals": self.totals.counters(),
        }

    # -- attempts under the policy --------------------------------------------------------
    async def _attempts(
        self,
        request: Request,
        endpoint: Endpoint,
        settings: Settings,
        stats: CallStats,
        call: Callable[[RateLimiter], Any],
        deadline: Deadline,
        recorder: Recorder | None = None,
    ) -> Any:
        """The first attempt runs bare (most calls need no other); tenacity takes over after a
        retryable failure, its attempt 1 replaying that failure so every wait, stop and log
        is what it would have been had tenacity run the first attempt too."""
        breaker = self.breaker_for(endpoint, settings)
        limiter = self.limiter_for(endpoint, settings)
        estimate = request.estimated_tokens
        policy = (request, endpoint, settings, stats, call, deadline, breaker, limiter, estimate)
        try:
            return await self._attempt(*policy)
        except errors.LLMError as err:
            if not is_retryable(err):
                raise
            first_failure = err
        async for attempt in retrying(settings, deadline):
            with attempt:
                if attempt.retry_state.attempt_number == 1:
                    raise first_failure
                stats.retries += 1
                self.totals.retries += 1
                if recorder is not None:
                    recorder.retries += 1
                return await self._attempt(*policy)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _attempt(self, request: Request, endpoint: Endpoint, settings: Settings,
                       stats: CallStats, call: Callable[[RateLimiter], Any], deadline: Deadline,
                       breaker: CircuitBreaker, limiter: RateLimiter, estimate: int) -> Any:
        """One attempt: past the breaker, a rate-limit slot, then ``call`` within the bounds."""
        where = endpoint.base_url
        breaker.before_call()
        try:
            permit = (await within(limiter.acquire(estimate, request.priority),
                                   deadline=deadline, waiting_for="a rate-limit "
                                   "slot (rpm/tpm, or a pause after a 429)")
                      if limiter.active else Permit(None, estimate))
        except BaseException:
            breaker.release_probe()
            raise
        stats.attempts += 1
        self.totals.attempts += 1
        try:
            result, usage = await within(
                call(limiter), deadline=deadline,
                waiting_for=f"an answer from {where}",
                timeout=settings.timeout,
                on_timeout=lambda: attempt_timeout_error(settings.timeout, where),
            )
        except errors.DeadlineExceededError:
            breaker.release_probe()  # the caller's bound, not a verdict on the endpoint
            raise
        except errors.LLMError as err:
            if _refused(err):
                permit.settle(0)  # else a refused estimate stays taken for everyone
            self._on_error(err, limiter, breaker, stats)
            raise
        except BaseException:
            breaker.release_probe()
            raise
        breaker.on_success()
        permit.settle(usage.total_tokens if usage else None)
        return result

    def _on_error(self, err: errors.LLMError, limiter: RateLimiter, breaker: CircuitBreaker,
                  stats: CallStats) -> None:
        if err.status_code == 429:
            stats.rate_limited += 1
            self.totals.rate_limited += 1
            # Everyone backs off as long as the server asked, within the cap; a longer
            # Retry-After ends this call instead and never freezes the endpoint.
            wait = honoured_retry_after(err)
            seconds = wait if wait is not None else RATE_LIMIT_PAUSE_S
            limiter.pause(seconds)
            stats.paused_until = max(stats.paused_until, time.monotonic() + seconds)
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
        deadline = Deadline(settings.deadline_s)
        recorder = recorder_for(settings, "sync")
        cache, key, hit = self._lookup(request, settings, use_cache, stats, recorder, looked_up)
        if hit is not None:
            return hit
        check_call(request, settings)  # a cached answer is free; a new one must fit the cap
        body = _wire_body(request, endpoint)

        async def call(limiter: RateLimiter) -> tuple[Response, Usage]:
            started = time.perf_counter()
            content, headers = await post_chat(body, request.priority, endpoint, settings)
            limiter.observe_headers(headers)
            try:
                response = response_from_bytes(content, request, time.perf_counter() - started,
                                               endpoint.base_url, settings.prices,
                                               headers.get("content-type"))
            except errors.LLMError as err:  # it quotes the body: a server may echo the key
                raise translate_error(err, endpoint) from None
            return response, response.usage

        try:
            response = await self._attempts(request, endpoint, settings, stats, call, deadline,
                                            recorder)
        except (errors.LLMError, asyncio.CancelledError) as err:  # cancelled: on record too
            self._ended_without_answer(request, err, stats, recorder)
            raise
        self._answered(request, response, stats, recorder,
                       cache if response.finish_reason else None, key)
        return response

    def _lookup(self, request: Request, settings: Settings, use_cache: bool | None,
                stats: CallStats, recorder: Recorder | None, looked_up: bool = False
                ) -> tuple[ResponseCache | None, str, Response | None]:
        """The call's cache and key, and its cached answer (counted, on record) if any."""
        cache = self.cache_for(settings, use_cache)
        key = request.cache_key() if cache is not None else ""
        hit = cache.get(key) if cache is not None and not looked_up else None
        if hit is not None:
            stats.add_response(hit)
            record(recorder, request, hit)
        return cache, key, hit

    def _ended_without_answer(self, request: Request, err: BaseException, stats: CallStats,
                              recorder: Recorder | None) -> None:
        if isinstance(err, errors.LLMError):
            stats.failed += 1
            self.totals.failed += 1
        record(recorder, request, err)

    def _answered(self, request: Request, response: Response, stats: CallStats,
                  recorder: Recorder | None, cache: ResponseCache | None, key: str) -> None:
        """Count a new answer, keep it (``cache`` is None for one that did not finish)."""
        stats.add_response(response)
        self.totals.add_response(response)
        if cache is not None:
            cache.put(key, response)
        record(recorder, request, response)

    @staticmethod
    def cache_for(settings: Settings, use_cache: bool | None) -> ResponseCache | None:
        enabled = settings.cache if use_cache is None else use_cache
        return get_cache(settings.cache_path) if enabled else None

    # -- streaming -------------------------------------------------------------------------
    async def stream(
        self,
        request: Request,
        endpoint: Endpoint,
        settings: Settings,
        *,
        stats: CallStats | None = None,
        use_cache: bool | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> AsyncIterator[str | Response]:
        """Yield text deltas, then the final ``Response`` as the last item.

        A stream that breaks or ends unfinished before its first token is retried
        like any call; after text was emitted it ends with ``StreamInterruptedError``
        carrying the partial text (restarting would duplicate what was shown).
        ``on_open`` is called once, when the server first accepts the request (a 2xx
        head), before its first token: a relay can start its own response then.
        """
        stats = stats if stats is not None else CallStats()
        deadline = Deadline(settings.deadline_s)
        recorder = recorder_for(settings, "stream")
        cache, key, hit = self._lookup(request, settings, use_cache, stats, recorder)
        if hit is not None:
            yield hit.text
            yield hit
            return
        check_call(request, settings)
        started = time.perf_counter()
        next_chunk = chunk_reader(settings, deadline, endpoint)
        body = _wire_body(request, endpoint, stream=True)

        async def open_until_first_text(limiter: RateLimiter) -> tuple[Any, None]:
            nonlocal on_open
            reader = await open_chat_stream(body, request.priority, endpoint, settings)
            limiter.observe_headers(reader.headers)
            if on_open is not None:
                on_open, opened = None, on_open
                opened()
            progress = StreamProgress(request.model)
            await read_until_text(reader, progress, next_chunk)
            return (reader, progress), None

        try:
            reader, progress = await self._attempts(request, endpoint, settings, stats,
                                                    open_until_first_text, deadline, recorder)
        except (errors.LLMError, asyncio.CancelledError) as err:
            self._ended_without_answer(request, err, stats, recorder)
            raise
        ttft = time.perf_counter() - started
        try:
            if progress.parts:
                yield progress.parts[0]
            while (chunk := await next_chunk(reader)) is not None:
                text = progress.add(chunk)
                if text:
                    yield text
            if progress.finish_reason is None:
                raise reader.unfinished()
        except errors.LLMError as err:
            broken = _interrupted(err, progress.text)
            self._ended_without_answer(request, broken, stats, recorder)
            raise broken from None
        except (GeneratorExit, asyncio.CancelledError) as err:  # the consumer stopped early
            record(recorder, request, err)
            raise
        finally:
            await reader.aclose()
        response = progress.response(request, latency_s=time.perf_counter() - started,
                                     ttft_s=ttft, prices=settings.prices)
        self._answered(request, response, stats, recorder, cache if reader.done else None, key)
        yield response


def _interrupted(err: errors.LLMError, partial: str) -> errors.StreamInterruptedError:
    return errors.StreamInterruptedError(
        f"The stream broke after {len(partial)} characters ({err.message}). "
        "The partial text is kept; run again for a full answer.", partial_text=partial)


def _wire_body(request: Request, endpoint: Endpoint, *, stream: bool = False) -> dict[str, Any]:
    """The JSON body to send, in the form this endpoint's server accepts."""
    return endpoint.wire_body(request.body(stream=stream))


_engine: Engine | None = None


def get_engine() -> Engine:
    """The process-wide engine (one limiter and breaker per endpoint for everyone)."""
    global _engine
    if _engine is None:
        _engine = Engine()
    return _engine
