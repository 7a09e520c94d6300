"""``/metrics``: a small snapshot as JSON, or Prometheus text for a scraper.

What an operator needs to see that the shared limits work: requests and
their statuses (429s answered to clients), what happened upstream (attempts,
retries, 429s absorbed by retries), each breaker's state, how many calls wait
(limiter queue, concurrency slots), and batches in progress.
"""

from __future__ import annotations

import time
from typing import Any

from ...core.policy.cache import get_cache
from .state import GatewayState

__all__ = ["prometheus_text", "snapshot"]

_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}


def snapshot(gw: GatewayState) -> dict[str, Any]:
    engine = gw.engine
    totals = engine.totals
    limiters = list(engine.limiters.values())
    traffic = gw.traffic
    return {
        "uptime_s": round(time.time() - traffic.started_at, 3),
        "requests": {
            "total": traffic.requests,
            "in_flight": traffic.in_flight,
            "by_status": {str(k): v for k, v in sorted(traffic.by_status.items())},
            "rate_limited": traffic.by_status.get(429, 0),
        },
        "upstream": {
            "attempts": totals.attempts,
            "retries": totals.retries,
            "rate_limited": totals.rate_limited,
            "completed": totals.completed,
            "failed": totals.failed,
            "prompt_tokens": totals.prompt_tokens,
            "completion_tokens": totals.completion_tokens,
        },
        "breakers": {  # by model only: the upstream's address is not for clients
            model: breaker.snapshot() for (_, model), breaker in engine.breakers.items()
        },
        "queue": {
            "limiter_waiting": sum(limiter.queued for limiter in limiters),
            "slots_waiting": gw.slots.waiting,
            "slots_in_use": gw.slots.in_use,
            "concurrency": gw.slots.limit,
        },
        "limits": {"rpm": gw.config.rpm, "tpm": gw.config.tpm},
        "cache": _cache(gw),
        "batches": {
            "in_progress": gw.batches.running,
            "lines_finished": gw.batches.lines.lines_finished,
        },
    }


def _cache(gw: GatewayState) -> dict[str, Any]:
    if not gw.use_cache:
        return {"enabled": False, "hits": 0, "misses": 0}
    caches = [get_cache(path) for path in gw.caches.paths()]
    return {"enabled": True, "shared": gw.config.share_cache,
            "hits": sum(c.hits for c in caches), "misses": sum(c.misses for c in caches)}


def _label(value: str) -> str:
    """A label value as the exposition format escapes it: a model name may come from a client
    (when the upstream lists no models) and must not end the label or the line."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        return f"llm_magics_gateway_{name}{{{inner}}} {value}"
    return f"llm_magics_gateway_{name} {value}"


def prometheus_text(data: dict[str, Any]) -> str:
    """The snapshot in Prometheus' text exposition format (version 0.0.4)."""
    requests, upstream, queue = data["requests"], data["upstream"], data["queue"]
    lines = [
        "# TYPE llm_magics_gateway_requests_total counter",
        _line("requests_total", requests["total"]),
        "# TYPE llm_magics_gateway_responses_total counter",
        *(_line("responses_total", v, {"status": k}) for k, v in requests["by_status"].items()),
        "# TYPE llm_magics_gateway_in_flight gauge",
        _line("in_flight", requests["in_flight"]),
        "# TYPE llm_magics_gateway_upstream_attempts_total counter",
        _line("upstream_attempts_total", upstream["attempts"]),
        "# TYPE llm_magics_gateway_upstream_retries_total counter",
        _line("upstream_retries_total", upstream["retries"]),
        "# TYPE llm_magics_gateway_upstream_rate_limited_total counter",
        _line("upstream_rate_limited_total", upstream["rate_limited"]),
        "# TYPE llm_magics_gateway_cache_hits_total counter",
        _line("cache_hits_total", data["cache"]["hits"]),
        "# TYPE llm_magics_gateway_breaker_state gauge",
        *(_line("breaker_state", _BREAKER_VALUE.get(b["state"], -1), {"endpoint": name})
          for name, b in data["breakers"].items()),
        "# TYPE llm_magics_gateway_queue_depth gauge",
        _line("queue_depth", queue["limiter_waiting"], {"queue": "limiter"}),
        _line("queue_depth", queue["slots_waiting"], {"queue": "slots"}),
        "# TYPE llm_magics_gateway_batches_in_progress gauge",
        _line("batches_in_progress", data["batches"]["in_progress"]),
    ]
    return "\n".join(lines) + "\n"
