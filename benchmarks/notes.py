"""What a missed target means and where the fix lies, attached to the report when it is missed.

The explanations come from profiling llm-magics in these scenarios (cProfile
of the fan-out on the core's loop, tracemalloc and object counts for memory);
they live next to the code so that a miss in a later run is explained the same
way, with that run's numbers, and so an explanation leaves the report once its
target is met.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["notes_for", "EXPLANATIONS"]

Explain = Callable[[dict[str, Any]], str]


def _throughput(result: dict[str, Any]) -> str:
    s = result["summary"]
    ours = s["contenders"]["ours"]
    best = s["contenders"][s["best_alternative"]]
    return (
        f"ours used {ours['client_cores']:.2f} of a core, so latency, not its CPU, set its pace; "
        f"the best alternative ({s['best_alternative']}) reached {best['of_bound']:.2f} of the "
        "bound in the same run. What is missing is time outside the client: the simulator's "
        "own handling on top of its sleep, and scheduling delays on a 2-core machine shared "
        "with other jobs (see the load average above). Compare ours with the best alternative "
        "rather than with the bound; on an idle machine both come within a few percent of it."
    )


def _overhead(result: dict[str, Any]) -> str:
    return (
        f"ours is at {result['summary']['ours_over_bare']:.2f}x the bare SDK. A cProfile of "
        "the fan-out puts about 80% of its remaining CPU in the OpenAI SDK's request path, not "
        "in llm-magics: `openai/_base_client.py` `request` -> `_build_request` (three URL "
        "parses, header merging, a pydantic `FinalRequestOptions` per call: about a third), "
        "then httpx2's `send` and the vendored adapter `openai/_vendor/httpx_aiohttp/"
        "transport.py` `handle_async_request`, which turns each httpx2 request into an aiohttp "
        "one and back (about a sixth beyond aiohttp's own work). The policy stack, cache and "
        "response parsing (`llm_magics/core/engine.py`, `fanout.py`, tenacity) are about 15%. "
        "Fix: in `llm_magics/core/engine.py` `Engine.complete` (the inner `call`) and "
        "`llm_magics/core/client.py`, post non-streamed completions straight on the aiohttp "
        "session the client already holds: URL and headers (auth + SDK defaults) built once "
        "per endpoint, body encoded once, a status >= 400 turned into `openai.APIStatusError` "
        "so `translate_error` keeps working. That skips `_build_request` and the adapter; "
        "estimated from the profile at roughly 0.35-0.5 ms per request, 0.25-0.35x the bare SDK."
    )


def _memory(result: dict[str, Any]) -> str:
    s = result["summary"]
    return (
        f"ours peaks at {s['ours']['peak_mb']:.0f} MB against {s['bare']['peak_mb']:.0f} MB. "
        "There is no leak (object counts after a run return to the baseline once the results "
        "are dropped); the difference is what each side returns. The bare loop keeps one "
        "string per row; `map()` keeps a `Response` per row whose `raw` holds the parsed JSON "
        "body, about 40 objects and 2.7 KB per answer (tracemalloc: `json/decoder.py` via "
        "`llm_magics/core/engine.py` `Engine.complete` -> `raw.json()`). At 20,000 rows, "
        "dropping `raw` took the peak from 176 to 114 MB, which at 100,000 rows is about 300 MB "
        "and would put ours under the bare loop. Fix: in `Engine._response_from_body` "
        "(`raw=body`), keep the response bytes (about 0.4 KB) and decode `Response.raw` lazily "
        "on first access, or do not keep `raw` for fan-out rows unless asked."
    )


def _rate_limit(result: dict[str, Any]) -> str:
    s = result["summary"]
    return (
        "ours paces every request at the steady rate from the first one: "
        "`llm_magics/core/policy/limiter.py` keeps a bucket of one second (`BURST_SECONDS`), "
        "so it never spends the minute's burst a fresh key is granted, and takes "
        f"{s['steady_s']:.0f}s where the floor is {s['floor_s']:.0f}s. Fix: in "
        "`RateLimiter.observe_headers`, let the bucket level rise to what "
        "`x-ratelimit-remaining-requests/-tokens` says may be sent now (capped by the limit), "
        "keeping the one-second bucket for servers that send no such headers."
    )


def _faults(result: dict[str, Any]) -> str:
    return (
        "ours retries up to 6 times with `backoff_initial_s=0.5` plus up to 0.5 s of jitter, "
        "doubling (`llm_magics/core/policy/retry.py` `wait_for`); the SDK waits 0.375-0.5 s "
        "and gives up after 2. The extra wall time is the tail of the few prompts that failed "
        "three times or more, which the SDK loop drops instead. A smaller jitter (jitter = "
        "initial / 2) would shorten that tail without more load on a sick server."
    )


def _faults_answered(result: dict[str, Any]) -> str:
    ours = result["summary"]["contenders"]["ours"]
    return (
        f"ours answered {ours['answered']:,} of {ours['prompts']:,} ({ours['errors']}). The "
        "circuit breaker opened although the server answered nearly 90% of requests: "
        "`llm_magics/core/policy/breaker.py` `CircuitBreaker.on_failure` opens after "
        "`breaker_threshold` (5) failures in a row, and with 64 calls in flight a 503 comes "
        "back in a millisecond while a success takes the full latency, so five quick failures "
        "in a row happen easily (at the start of a burst, or when the machine stalls the loop "
        "and only the fast failures are ready). Once open, every remaining row fails in "
        "milliseconds with `CircuitOpenError`, because the engine does not wait out the "
        "cool-down (`llm_magics/core/engine.py` `Engine._attempts` -> `breaker.before_call`, "
        "and `policy/retry.py` `is_retryable` does not retry it). Reproduced outside the "
        "benchmark: 1,000 prompts at these fault rates tripped it for fault seed 4 (835 rows "
        "lost in 2.7 s) and under CPU load with seed 0. Fix: open on a failure rate over a "
        "sliding window of recent attempts (say >= 50% of the last 20, at least 10 calls) "
        "instead of a run of consecutive failures, and let fan-out rows wait for the probe "
        "(retry `CircuitOpenError` after its `retry_after_s`, within `deadline_s`) instead of "
        "failing."
    )


EXPLANATIONS: dict[tuple[str, str], Explain] = {
    ("faults", "every prompt"): _faults_answered,
    ("throughput", ">= 0.95"): _throughput,
    ("overhead", "aim: half"): _overhead,
    ("memory", "peak RSS"): _memory,
    ("rate_limit", "no slower"): _rate_limit,
    ("faults", "no slower"): _faults,
}
"""(scenario, start of the target text) -> explanation built from that run's numbers."""


def notes_for(results: dict[str, Any]) -> list[str]:
    notes = []
    for name, result in results["scenarios"].items():
        for t in result.get("targets", []):
            if t["met"] is not False:
                continue
            for (scenario, start), explain in EXPLANATIONS.items():
                if scenario == name and t["target"].startswith(start):
                    notes.append(f"{result['title']}, \"{t['target']}\": {explain(result)}")
    return notes
