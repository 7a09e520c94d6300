"""Scenario 11, gateway: time to first token the gateway adds to a stream.

Streams alternate between three paths to one simulator process (no latency,
2 ms per token): direct, through a relay that forwards bytes and checks
nothing (the floor: what a Python hop costs), and through ``llm-magics serve``
(its own process, cache off so every stream goes upstream). One official SDK
client per path, in this process; medians over many streams
(``benchmarks.gateway_ttft`` is the same measurement as a command).
"""

from __future__ import annotations

from typing import Any

from ..gateway_ttft import sample
from ..gateway_ttft import summarise as per_path
from ..sizes import Sizes
from . import Log, target

TITLE = "11. Gateway"
TOKEN_MS = 2.0
LABELS = {"direct": "direct to the server", "floor": "byte-forwarding relay (the floor)",
          "gateway": "llm-magics serve"}
TARGET_MS = 1.5


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    samples = sample(sizes.gateway_streams, TOKEN_MS, warmup=sizes.gateway_warmup)
    result = summarise(sizes, samples)
    added = result["summary"]["added_ms"]
    log(f"  added TTFT: gateway {added['gateway']:.2f} ms, floor {added['floor']:.2f} ms")
    return result


def summarise(sizes: Sizes, samples: dict[str, list[float]]) -> dict[str, Any]:
    paths = per_path(samples)
    added = {"floor": paths["floor_added_median_ms"], "gateway": paths["added_median_ms"]}
    over = {"direct": "", "floor": f"{added['floor']:+.2f}", "gateway": f"{added['gateway']:+.2f}"}
    rows = [[label, f"{paths[name]['median_ms']:.2f}", f"{paths[name]['p90_ms']:.2f}", over[name]]
            for name, label in LABELS.items()]
    return {
        "title": TITLE,
        "setup": (f"{sizes.gateway_streams} streams per path, interleaved, after "
                  f"{sizes.gateway_warmup} unrecorded rounds; simulator with no latency at "
                  f"{TOKEN_MS:.0f} ms per token; TTFT from create(stream=True) to the first "
                  "chunk with text, on one long-lived SDK client per path. On the 2-core "
                  "machine the added median varies by about 0.15 ms from run to run (the "
                  "relay's too): read a figure near the target as at the target."),
        "table": {"columns": ["path", "median TTFT ms", "p90 ms", "added ms (median)"],
                  "rows": rows},
        "summary": {"added_ms": added, "paths": {k: paths[k] for k in LABELS}},
        "targets": [target(f"gateway adds at most {TARGET_MS} ms median TTFT",
                           added["gateway"] <= TARGET_MS,
                           f"{added['gateway']:.2f} ms (a byte-forwarding relay adds "
                           f"{added['floor']:.2f} ms: the hop itself)")],
        "trials": {"ttft_s": samples},
    }


def from_trials(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    return summarise(sizes, trials["ttft_s"])
