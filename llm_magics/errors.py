"""Every error llm-magics raises, each with a message that says what to do next.

Hierarchy::

    LLMError                          root: catch this to catch everything we raise
    ├── ConfigurationError            bad or missing settings (no key, bad value)
    ├── InvalidRequestError           the request itself is wrong (empty prompt, HTTP 400/422)
    │   ├── ModelNotFoundError        HTTP 404 for the model
    │   └── TemplateError             a prompt template names something that does not exist
    ├── AuthenticationError           HTTP 401/403
    ├── APIConnectionError            the base URL cannot be reached
    ├── APITimeoutError               connect/read/attempt (timeout)/stream-idle timeout
    │   └── DeadlineExceededError     the call's deadline_s passed: not retried
    ├── RateLimitError                HTTP 429 after every retry
    ├── ServerError                   HTTP 5xx after every retry
    ├── CircuitOpenError              the breaker is open: failing fast
    ├── StreamInterruptedError        a stream broke after text was emitted (.partial_text)
    ├── OutputValidationError         the answer did not fit the requested schema
    ├── BudgetExceededError           not sent: it could have taken the run past max_cost_usd
    └── CancelledError                the user stopped the call (Stop button, interrupt)

    DeadlineWarning (a UserWarning)   the rate limits cannot finish a run before its deadline

Errors are also *values*: a fan-out returns them in the failed rows, so they
carry context (status, request id, retryable) and compare by content.
"""

from __future__ import annotations

__all__ = [
    "LLMError",
    "ConfigurationError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "TemplateError",
    "AuthenticationError",
    "APIConnectionError",
    "APITimeoutError",
    "DeadlineExceededError",
    "RateLimitError",
    "ServerError",
    "CircuitOpenError",
    "StreamInterruptedError",
    "OutputValidationError",
    "BudgetExceededError",
    "CancelledError",
    "DeadlineWarning",
]


class LLMError(Exception):
    """Root of every llm-magics error."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
        body: object | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after_s = retry_after_s
        self.body = body
        """The server's error as it sent it (``APIStatusError.body``: the ``error`` member of
        its JSON, with ``message``, ``type``, ``param``, ``code``), for an HTTP error."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.message == self.message  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.message))

    def __reduce__(self):  # keeps keyword context across pickling (Celery results)
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[LLMError], message: str, state: dict) -> LLMError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ConfigurationError(LLMError):
    """Settings are missing or invalid."""


class InvalidRequestError(LLMError):
    """The request cannot succeed as written; retrying will not help."""


class ModelNotFoundError(InvalidRequestError):
    """The server does not know the model."""


class TemplateError(InvalidRequestError):
    """A prompt template refers to a variable or column that does not exist."""


class AuthenticationError(LLMError):
    """The API key was rejected."""


class APIConnectionError(LLMError):
    """The server could not be reached."""

    retryable = True


class APITimeoutError(LLMError):
    """A timeout expired before the answer came."""

    retryable = True


class DeadlineExceededError(APITimeoutError):
    """The call's ``deadline_s`` passed (attempts, backoff and rate-limit waits included).

    Not retried: the time the caller allowed is spent. The message names the wait
    that was under way; ``status_code``/``retry_after_s`` come from the last attempt.
    """

    retryable = False


class RateLimitError(LLMError):
    """The server kept answering 429 until retries ran out."""

    retryable = True


class ServerError(LLMError):
    """The server kept failing with 5xx until retries ran out."""

    retryable = True


class CircuitOpenError(LLMError):
    """Calls to this endpoint are failing fast because the last ones all failed."""


class StreamInterruptedError(LLMError):
    """A stream ended early after emitting text; the text so far is kept."""

    def __init__(self, message: str, *, partial_text: str = "", **kw) -> None:
        super().__init__(message, **kw)
        self.partial_text = partial_text


class OutputValidationError(LLMError):
    """The model's answer did not validate against the requested schema."""

    def __init__(self, message: str, *, raw_text: str = "", **kw) -> None:
        super().__init__(message, **kw)
        self.raw_text = raw_text


class BudgetExceededError(LLMError):
    """A row was not sent: its worst case did not fit what was left of ``max_cost_usd``.

    Nothing was paid for it. Run again with a higher cap to send only these rows
    (every answer that arrived is cached).
    """


class CancelledError(LLMError):
    """The call was stopped by the user."""


class DeadlineWarning(UserWarning):
    """Warned up front when the known rate limits cannot finish a run by its deadline."""
