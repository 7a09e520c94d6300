"""Time to first token added by the gateway: direct to the simulator versus through it.

Both paths run in one process against one simulator process (no latency,
``--token-ms`` per token, so the first token is ready at once and what
remains is transport and server cost). Streams alternate direct / gateway so
drift hits both equally; the gateway runs as its own process (its own GIL),
with the cache off so every stream really goes upstream. TTFT is measured on
one long-lived official SDK client per path, from ``create(stream=True)`` to
the first chunk carrying text. Reported: medians and 90th percentiles over
``--n`` streams each, and the difference.

    python -m benchmarks.gateway_ttft --n 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

from openai import OpenAI

from tests.support.gateway import GatewayProcess
from tests.support.sim import SimulatorProcess

MODEL = "sim-small"


def ttft(client: OpenAI, prompt: str) -> float:
    """Seconds from the request to the first text delta (the rest of the stream is drained)."""
    started = time.perf_counter()
    first: float | None = None
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True)
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("the stream carried no text")
    return first


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(n: int, token_ms: float, warmup: int = 20) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as state_dir, SimulatorProcess(
        latency_s=0.0, token_latency_s=token_ms / 1000, answer_tokens=8
    ) as sim, GatewayProcess(
        ["--upstream", sim.base_url, "--no-cache", "--state-dir", state_dir]
    ) as gateway:
        clients = {
            "direct": OpenAI(base_url=sim.base_url, api_key="sk-bench", max_retries=0),
            "gateway": OpenAI(base_url=gateway.base_url, api_key="sk-bench", max_retries=0),
        }
        samples: dict[str, list[float]] = {name: [] for name in clients}
        for i in range(warmup + n):
            order = list(clients) if i % 2 == 0 else list(reversed(clients))
            for name in order:
                value = ttft(clients[name], f"stream {i} via {name}")
                if i >= warmup:
                    samples[name].append(value)
        for client in clients.values():
            client.close()
    result: dict[str, Any] = {"n": n, "token_ms": token_ms}
    for name, values in samples.items():
        result[name] = {
            "median_ms": round(statistics.median(values) * 1000, 3),
            "p90_ms": round(percentile(values, 0.9) * 1000, 3),
        }
    result["added_median_ms"] = round(
        result["gateway"]["median_ms"] - result["direct"]["median_ms"], 3)
    result["added_p90_ms"] = round(result["gateway"]["p90_ms"] - result["direct"]["p90_ms"], 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="streams per path (default 200)")
    parser.add_argument("--token-ms", type=float, default=2.0,
                        help="simulated milliseconds per token (default 2)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args(argv)
    result = run(args.n, args.token_ms)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"TTFT over {args.n} streams per path ({args.token_ms} ms/token simulator):")
    for name in ("direct", "gateway"):
        print(f"  {name:8s} median {result[name]['median_ms']:.2f} ms   "
              f"p90 {result[name]['p90_ms']:.2f} ms")
    print(f"  added by the gateway: median {result['added_median_ms']:.2f} ms, "
          f"p90 {result['added_p90_ms']:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
