"""Request-shape differences between OpenAI and llama-cpp-python's server, in one place.

Measured against llama-cpp-python 0.3.36:

* ``response_format={"type": "json_schema", ...}`` is rejected (as HTTP 500, so a
  retry loop would retry it); the server's own form is
  ``{"type": "json_object", "schema": {...}}``, enforced by a grammar.
* ``stream_options={"include_usage": true}`` is accepted but ignored: streams carry
  no usage, so token counts for a stream must be estimated by the caller.
* ``n > 1`` is ignored (one choice comes back).
* ``max_completion_tokens`` (OpenAI's current name, and what a budget sends) is
  ignored: only ``max_tokens`` bounds an answer, so it is renamed.
* ``logprobs`` fails with HTTP 500: the server runs with ``logits_all=false``
  (all-position logits cost n_ctx x vocab floats, ~400 MB at n_ctx=2048, and
  slow every prompt), so :func:`adapt_request` drops it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["adapt_request"]


def adapt_request(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAI chat-completions body that the local server accepts."""
    out = dict(body)
    fmt = out.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        out["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
    if "max_completion_tokens" in out:
        bound = out.pop("max_completion_tokens")
        out["max_tokens"] = bound if bound is not None else out.get("max_tokens")
    if out.get("n", 1) != 1:
        out["n"] = 1
    out.pop("logprobs", None)
    out.pop("top_logprobs", None)
    return out
