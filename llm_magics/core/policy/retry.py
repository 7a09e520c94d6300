"""The one retry policy: which errors to retry and how long to wait.

Retries only what can succeed on a second try (429, 408, 409, 5xx, timeouts,
dropped connections), never 400/401/403/404/422. Waits grow exponentially with
jitter; a server's ``Retry-After`` wins, capped at ``backoff_max_s``. A
``deadline_s`` bounds the whole thing.
"""

from __future__ import annotations

import logging

import tenacity
from tenacity import stop_after_attempt, stop_after_delay, wait_exponential_jitter

from ...errors import LLMError
from ..settings import Settings

__all__ = ["is_retryable", "retrying", "wait_for"]

log = logging.getLogger("llm_magics.retry")


def is_retryable(err: BaseException) -> bool:
    return isinstance(err, LLMError) and err.retryable


class wait_retry_after(tenacity.wait.wait_base):
    """The server's Retry-After when it sent one, else the fallback, both capped."""

    def __init__(self, fallback: tenacity.wait.wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        err = retry_state.outcome.exception() if retry_state.outcome else None
        hint = getattr(err, "retry_after_s", None)
        if hint is not None:
            return min(self.cap, hint)
        return self.fallback(retry_state)


def wait_for(settings: Settings) -> tenacity.wait.wait_base:
    fallback = wait_exponential_jitter(
        multiplier=settings.backoff_initial_s, max=settings.backoff_max_s,
        jitter=settings.backoff_initial_s,
    )
    return wait_retry_after(fallback, settings.backoff_max_s)


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    err = retry_state.outcome.exception() if retry_state.outcome else None
    wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
    log.debug("retry %d after %s; waiting %.2fs", retry_state.attempt_number,
              type(err).__name__, wait)


def retrying(settings: Settings, *, sleep=None) -> tenacity.AsyncRetrying:
    stop = stop_after_attempt(settings.max_retries + 1)
    if settings.deadline_s is not None:
        stop = stop | stop_after_delay(settings.deadline_s)
    kwargs = {"sleep": sleep} if sleep is not None else {}
    return tenacity.AsyncRetrying(
        stop=stop,
        wait=wait_for(settings),
        retry=tenacity.retry_if_exception(is_retryable),
        reraise=True,
        before_sleep=_log_retry,
        **kwargs,
    )
