"""Tunable numbers of the core, in one place (the Batch API's live in ``core.batch.constants``).

Each says why it has its value, so the next change starts from the reason.
"""

from __future__ import annotations

__all__ = [
    "CACHE_FLUSH_EVERY",
    "CACHE_FLUSH_INTERVAL_S",
    "CACHE_LOOKUP_CHUNK",
    "CACHE_BUSY_TIMEOUT_S",
    "CACHE_RETRY_AFTER_S",
    "CACHE_MAX_HELD_ROWS",
    "CACHE_WRITER_IDLE_S",
    "HISTORY_PRUNE_EVERY_S",
    "JOBSTORE_BUSY_TIMEOUT_S",
    "MIN_SECRET_CHARS",
    "MAX_JSON_DEPTH",
    "RETRY_AFTER_MAX_S",
    "RATE_LIMIT_PAUSE_S",
    "MAX_IDLE_POLICIES",
    "SERVER_RETRY_FACTOR",
    "STREAM_DRAIN_S",
    "STALE_RESENDS",
    "PLAN_CALL_S",
    "PLAN_SAFETY",
    "BATCH_WINDOW_S",
    "SWITCH_GRACE_S",
    "DEADLINE_POLL_MAX_S",
    "PACK_AUTO_ANSWER_TOKENS",
    "PACK_AUTO_MAX_ROWS",
    "PACK_ROW_OVERHEAD_TOKENS",
    "BUDGET_COMPLETION_BOUND",
]

# -- response cache ------------------------------------------------------------------------------
CACHE_FLUSH_EVERY = 200
"""Answers buffered before the writer commits them: committing per answer would dominate a
10,000-row fan-out, committing never would lose finished rows to a crash."""

CACHE_FLUSH_INTERVAL_S = 1.0
"""Longest an answer waits in memory before the writer commits it."""

CACHE_LOOKUP_CHUNK = 500
"""Keys per ``SELECT ... IN (...)``: below SQLite's bound-parameter limit on every build."""

CACHE_BUSY_TIMEOUT_S = 1.0
"""How long a cache read or write waits for another process's lock before giving up. Short on
purpose: a cache that is busy is skipped (answers are returned, not cached), never waited on."""

CACHE_RETRY_AFTER_S = 5.0
"""After a failed read or write, the cache is left alone this long, so a locked or broken file
costs one busy timeout per interval instead of one per call."""

CACHE_MAX_HELD_ROWS = 20_000
"""Answers kept in memory while the file cannot be written (about 1-2 kB each); later ones
are returned but not kept."""

CACHE_WRITER_IDLE_S = 30.0
"""A cache's writer thread ends after this long with nothing to write (one idle thread per
cache file would pile up in a long session that uses many); the next answer starts another."""

# -- batch job store -----------------------------------------------------------------------------
JOBSTORE_BUSY_TIMEOUT_S = 30.0
"""The job store waits for another process's lock (a second kernel, ``llm-magics jobs``): its
writes are few and must not be lost, unlike the cache's."""

# -- secrets -------------------------------------------------------------------------------------
MIN_SECRET_CHARS = 8
"""Shorter API keys are not masked in messages: a one-letter test key would otherwise be cut out
of every word that contains it, and a key that short protects nothing."""

# -- request validation --------------------------------------------------------------------------
MAX_JSON_DEPTH = 64
"""Deepest nesting accepted in request params and messages (a JSON schema needs far less; a
self-referencing list hits it instead of a RecursionError)."""

# -- retries and streams -----------------------------------------------------------------------
RETRY_AFTER_MAX_S = 60.0
"""The longest server ``Retry-After`` that is honoured, in seconds (openai-python's cap too).

Up to this, a 429's call waits that long before its retry and every call to the
endpoint pauses as long. A longer value (a quota that is gone for an hour)
fails that call at once with ``RateLimitError`` instead of waiting, and pauses
the endpoint only for ``RATE_LIMIT_PAUSE_S``: one header never freezes the process.
"""

SERVER_RETRY_FACTOR = 0.2
"""The first wait before retrying a 5xx, timeout or dropped connection, as a share of
``backoff_initial_s`` (0.1 s by default): such a failure is usually one unlucky request, and
the breaker, not a long wait, protects an endpoint that is really down. A 429 waits the whole
``backoff_initial_s``: a spent quota does not come back sooner for asking again."""

RATE_LIMIT_PAUSE_S = 1.0
"""How long every call to an endpoint pauses after a 429 that gives no usable wait."""

MAX_IDLE_POLICIES = 256
"""Limiters (and breakers) kept per process before idle ones are dropped, least recently used
first (``core.policy.table``): far above the models a notebook calls, and a bound on what
invented model names sent through the gateway can cost (a few KB each)."""

STREAM_DRAIN_S = 1.0
"""After ``[DONE]``, how long to wait for the body's end so the connection can be reused."""

# -- the run planner (mode="auto", deadline=) ---------------------------------------------------
STALE_RESENDS = 2
"""How many times the lean path sends a request again, at once, when the pooled connection
it went out on turns out closed by the server (its keep-alive ran out as the request left):
the server never read it, so it is no failure of the endpoint. Each resend drops one dead
connection from the pool; a fresh connection that fails is the call's failure as usual."""

PLAN_CALL_S = 2.0
"""Seconds one call is assumed to take when the planner times a fan-out: a short answer from a
hosted model. With ``concurrency`` calls in flight it bounds the rate where no rpm/tpm does."""

PLAN_SAFETY = 1.5
"""The async time estimate is stretched by this much before it is trusted against a deadline:
retries, 429 pauses and slow answers only ever make a run longer."""

BATCH_WINDOW_S = 86_400.0
"""The Batch API's completion window (24 h): the only time a batch promises to finish in."""

SWITCH_GRACE_S = 10.0
"""Time kept for giving up on a batch before a deadline: cancel it, wait for the server to
hand back its partial output, download it. Past this the rest goes out without waiting."""

DEADLINE_POLL_MAX_S = 30.0
"""Longest wait between two polls of a batch that has a deadline, so the switch is never late
by more than this (the plain batch poll backs off to a minute)."""

# -- row packing (pack=N) ------------------------------------------------------------------------
PACK_AUTO_ANSWER_TOKENS = 4_096
"""pack="auto" packs as many rows as expected answers fit in this many output tokens: well inside
every current model's output limit, where long JSON answers still come back whole."""

PACK_AUTO_MAX_ROWS = 20
"""pack="auto" never packs more rows than this: past ~20 items models start to skip or merge."""

PACK_ROW_OVERHEAD_TOKENS = 12
"""Tokens of JSON framing per row in a packed answer ({"id": "7", "answer": "..."},), for
estimates and for a packed request's max_tokens when its rows set one."""

# -- budgets -------------------------------------------------------------------------------------
BUDGET_COMPLETION_BOUND = 1024
"""Answer tokens a call without ``max_tokens`` is assumed to take at most, when ``max_cost_usd``
reserves its worst case. Long enough for most answers, short enough that a small cap still lets
calls run side by side; a request with ``max_tokens`` is bounded by that instead, exactly."""

# -- call log ------------------------------------------------------------------------------------
HISTORY_PRUNE_EVERY_S = 600.0
"""How often the call log's writer drops rows past the retention (age, row count): pruning
on every commit would cost a scan per second, never would let the file grow unbounded."""
