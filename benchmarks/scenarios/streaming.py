"""Scenario 5, streaming: TTFT added over the bare SDK stream, and widget updates per second.

TTFT: streams alternate between the bare SDK (``create(stream=True)`` on a
long-lived client) and ours (``astream``), one worker process, a simulator
with no latency and 2 ms per token, so what remains is the client's own cost;
medians over many streams. Widget: one long stream at ~500 tokens/s drawn by
``StreamRun`` into a ``StreamView`` (what ``%%llm_stream`` does), counting the
redraws and the comm messages that would cross to the browser.
"""

from __future__ import annotations

from typing import Any

from tests.support.sim import SimulatorProcess

from ..common import median
from ..sizes import Sizes
from . import Log, prepared_worker, rotate, target

TITLE = "5. Streaming"
KINDS = ("bare", "ours", "bare-aiohttp", "ours-httpx", "ours-sdk")
LABELS = {
    "bare": "bare SDK stream (httpx)",
    "bare-aiohttp": "bare SDK stream (aiohttp)",
    "ours": "llm-magics astream() (aiohttp)",
    "ours-httpx": "llm-magics astream(transport='httpx')",
    "ours-sdk": "llm-magics astream(request_path='sdk') (aiohttp)",
}


def run(sizes: Sizes, log: Log) -> dict[str, Any]:
    token_s = 1 / sizes.stream_tokens_per_s
    ttft: dict[str, list[float]] = {k: [] for k in KINDS}
    with SimulatorProcess(latency_s=0.0, token_latency_s=token_s, answer_tokens=16) as sim:
        worker = prepared_worker("streams", "ours")
        try:
            for k in KINDS:  # warm: pools, imports, the core's loop thread
                worker.run("ttft", kind=k, base_url=sim.base_url, prompt=f"warm {k}")
            for i in range(sizes.ttft_streams):
                for k in rotate(KINDS, i):
                    r = worker.run("ttft", kind=k, base_url=sim.base_url, prompt=f"s{i} {k}")
                    ttft[k].append(r["ttft_s"])
            sim.configure(answer_tokens=sizes.stream_view_tokens)
            view = worker.run("stream_view", base_url=sim.base_url, prompt="a long answer")
        finally:
            worker.stop()
    medians = {k: median(v) for k, v in ttft.items()}
    log("  TTFT medians: " + ", ".join(f"{k} {v * 1000:.2f} ms" for k, v in medians.items()))
    log(f"  StreamView: {view['updates_per_s']:.1f} updates/s, "
        f"{view['comm_messages_per_s']:.1f} comm messages/s at {view['tokens_per_s']:.0f} tok/s")
    return summarise(sizes, ttft, medians, view)


def summarise(sizes: Sizes, ttft: dict[str, list[float]], medians: dict[str, float],
              view: dict[str, Any]) -> dict[str, Any]:
    added = {
        "ours vs bare (each on its default transport)": medians["ours"] - medians["bare"],
        "ours vs bare, both aiohttp": medians["ours"] - medians["bare-aiohttp"],
        "ours vs bare, both httpx": medians["ours-httpx"] - medians["bare"],
        "ours lean vs ours through the SDK, both aiohttp": medians["ours"] - medians["ours-sdk"],
    }
    rows = [[LABELS[k], f"{medians[k] * 1000:.2f}", f"{(medians[k] - medians['bare']) * 1000:+.2f}"]
            for k in KINDS]
    added_ms = added["ours vs bare (each on its default transport)"] * 1000
    targets = [
        target("under 5 ms added TTFT", added_ms < 5.0,
               "; ".join(f"{k}: {v * 1000:+.2f} ms" for k, v in added.items())),
        target("at most +0.5 ms TTFT over the bare SDK (lean request path)", added_ms <= 0.5,
               f"{added_ms:+.2f} ms"),
        target("at most 25 front-end updates/s", view["updates_per_s"] <= 25,
               f"{view['updates_per_s']:.1f} redraws/s ({view['comm_messages_per_s']:.1f} comm "
               f"messages/s) while streaming {view['tokens_per_s']:.0f} tok/s"),
    ]
    return {
        "title": TITLE,
        "setup": (f"TTFT: {sizes.ttft_streams} streams per client, alternating, zero-latency "
                  f"simulator at {sizes.stream_tokens_per_s:.0f} tokens/s; medians. Widget: "
                  f"one {sizes.stream_view_tokens:,}-token stream at the same pace drawn into "
                  "StreamView through StreamRun; a counting comm counts what would reach the "
                  "browser."),
        "table": {"columns": ["client", "median TTFT ms", "vs bare SDK (httpx) ms"],
                  "rows": rows + [["StreamView redraws/s (comm messages/s)",
                                   f"{view['updates_per_s']:.1f} "
                                   f"({view['comm_messages_per_s']:.1f})",
                                   f"{view['tokens_per_s']:.0f} tok/s streamed"]]},
        "summary": {"ttft_ms": {k: v * 1000 for k, v in medians.items()},
                    "added_ttft_ms": {k: v * 1000 for k, v in added.items()},
                    "stream_view": view},
        "targets": targets,
        "trials": {"ttft_s": ttft, "stream_view": view},
    }


def from_trials(sizes: Sizes, trials: dict[str, Any]) -> dict[str, Any]:
    """Re-derive the result from stored trials (``--render-only`` after an analysis change)."""
    ttft = trials["ttft_s"]
    return summarise(sizes, ttft, {k: median(v) for k, v in ttft.items()}, trials["stream_view"])
