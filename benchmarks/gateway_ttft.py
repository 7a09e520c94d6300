"""Time to first token added by the gateway: direct to the simulator versus through it.

Both paths run in one process against one simulator process (no latency,
``--token-ms`` per token, so the first token is ready at once and what
remains is transport and server cost). Streams alternate direct / gateway so
drift hits both equally; the gateway runs as its own process (its own GIL),
with the cache off so every stream really goes upstream. TTFT is measured on
one long-lived official SDK client per path, from ``create(stream=True)`` to
the first chunk carrying text. Reported: medians and 90th percentiles over
``--n`` streams each, and the difference.

The floor path goes through ``benchmarks.relay_floor``, a relay on the same
server stack that forwards bytes and checks nothing: what it adds is the cost
of a Python hop itself, so "added beyond the floor" is the gateway's policy work.

``--against NAME=CHECKOUT`` adds a gateway run from another checkout of the
project (say, the main branch before a change), interleaved with the others
in the same run, so a before/after is measured under the same load.

    python -m benchmarks.gateway_ttft --n 200
    python -m benchmarks.gateway_ttft --n 300 --against before=../llm-magics-main
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from typing import Any

from openai import OpenAI

from benchmarks.relay_floor import RelayFloorProcess
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


def _gateway(stack: ExitStack, upstream: str, checkout: str | None) -> GatewayProcess:
    args = ["--upstream", upstream, "--no-cache", "--state-dir", stack.enter_context(
        tempfile.TemporaryDirectory())]
    if checkout is None:
        return stack.enter_context(GatewayProcess(args))
    path = os.path.abspath(checkout)
    return stack.enter_context(GatewayProcess(args, env={"PYTHONPATH": path}, cwd=path))


def sample(n: int, token_ms: float, warmup: int = 20,
           against: dict[str, str] | None = None) -> dict[str, list[float]]:
    """TTFT seconds per path: direct, the floor relay, this checkout's gateway (plus one
    per ``against`` checkout), ``n`` streams each after ``warmup`` unrecorded rounds."""
    with ExitStack() as stack:
        sim = stack.enter_context(SimulatorProcess(
            latency_s=0.0, token_latency_s=token_ms / 1000, answer_tokens=8))
        urls = {"direct": sim.base_url,
                "floor": stack.enter_context(RelayFloorProcess(sim.base_url)).base_url}
        for name, checkout in {"gateway": None, **(against or {})}.items():
            urls[name] = _gateway(stack, sim.base_url, checkout).base_url
        clients = {name: stack.enter_context(OpenAI(base_url=url, api_key="sk-bench",
                                                    max_retries=0))
                   for name, url in urls.items()}
        names = list(clients)
        samples: dict[str, list[float]] = {name: [] for name in names}
        for i in range(warmup + n):
            shift = i % len(names)  # each path takes each position in turn
            for name in names[shift:] + names[:shift]:
                value = ttft(clients[name], f"stream {i} via {name}")
                if i >= warmup:
                    samples[name].append(value)
    return samples


def summarise(samples: dict[str, list[float]]) -> dict[str, Any]:
    """Median and 90th percentile per path (ms), and what each adds over ``direct``."""
    result: dict[str, Any] = {}
    for name, values in samples.items():
        result[name] = {
            "median_ms": round(statistics.median(values) * 1000, 3),
            "p90_ms": round(percentile(values, 0.9) * 1000, 3),
        }
    direct = result["direct"]
    for name in list(samples)[1:]:
        prefix = _added(name)
        result[f"{prefix}_median_ms"] = round(result[name]["median_ms"] - direct["median_ms"], 3)
        result[f"{prefix}_p90_ms"] = round(result[name]["p90_ms"] - direct["p90_ms"], 3)
    return result


def run(n: int, token_ms: float, warmup: int = 20,
        against: dict[str, str] | None = None) -> dict[str, Any]:
    return {"n": n, "token_ms": token_ms,
            **summarise(sample(n, token_ms, warmup, against))}


def _added(name: str) -> str:
    return "added" if name == "gateway" else f"{name}_added"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="streams per path (default 200)")
    parser.add_argument("--token-ms", type=float, default=2.0,
                        help="simulated milliseconds per token (default 2)")
    parser.add_argument("--against", action="append", default=[], metavar="NAME=CHECKOUT",
                        help="also time a gateway run from another checkout (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args(argv)
    against = dict(item.partition("=")[::2] for item in args.against)
    for name, checkout in against.items():
        if name in ("gateway", "direct") or not checkout or not os.path.isdir(checkout):
            parser.error(f"--against {name}={checkout}: give NAME=DIRECTORY, a checkout of "
                         "the project; 'gateway' and 'direct' are this checkout's own paths")
    result = run(args.n, args.token_ms, against=against)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"TTFT over {args.n} streams per path ({args.token_ms} ms/token simulator):")
    for name in ("direct", "floor", "gateway", *against):
        print(f"  {name:8s} median {result[name]['median_ms']:.2f} ms   "
              f"p90 {result[name]['p90_ms']:.2f} ms")
    for name in ("floor", "gateway", *against):
        prefix = _added(name)
        print(f"  added by {name}: median {result[f'{prefix}_median_ms']:.2f} ms, "
              f"p90 {result[f'{prefix}_p90_ms']:.2f} ms")
    beyond = result["added_median_ms"] - result["floor_added_median_ms"]
    print(f"  gateway beyond the floor (its policy work): median {beyond:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
