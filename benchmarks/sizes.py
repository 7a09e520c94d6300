"""How big each scenario runs: the issue's full sizes, a quick pass, and a tiny smoke test.

One table of numbers, so ``--quick`` and the test suite scale every scenario
the same way and nobody hunts for a constant buried in a scenario module.
``FULL`` keeps the issue's sizes except where the wall-clock budget (15 min on
2 cores) forces a choice, and each such choice is stated in ``docs/benchmarks.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Sizes", "FULL", "QUICK", "TINY", "by_name"]


@dataclass(frozen=True)
class Sizes:
    """Every tunable number of every scenario."""

    name: str
    concurrency: int = 64
    # 1. throughput
    throughput_n: int = 5_000
    """Per round: two interleaved rounds of 5,000 make the issue's 10,000 per contender."""
    throughput_latency_s: float = 0.2
    throughput_rounds: int = 2
    # 2. under a rate limit (each contender against its own simulator, all at once)
    limit_n: int = 3_000
    limit_rpm: int = 600
    limit_tpm: int = 100_000
    limit_latency_s: float = 0.2
    # 3. faults
    faults_n: int = 1_000
    """Per round; each round re-seeds the fault dice (same faults for every contender)."""
    faults_rounds: int = 3
    faults_latency_s: float = 0.2
    faults_error_rate: float = 0.10
    faults_drop_rate: float = 0.02
    # 4. client overhead (zero-latency simulator)
    overhead_n: int = 1_500
    overhead_rounds: int = 3
    # 5. streaming
    ttft_streams: int = 40
    stream_tokens_per_s: float = 500.0
    stream_view_tokens: int = 1_500
    # 6. cache
    cache_n: int = 10_000
    cache_latency_s: float = 0.2
    # 7. memory
    memory_n: int = 100_000
    # 8. batch JSONL
    batch_n: int = 50_000
    batch_rounds: int = 3
    # 9. row packing (pack=N) under a rate limit, and its cost
    pack_rpm: int = 60
    pack_size: int = 10
    pack_requests: int = 120
    """Requests each run makes: the unpacked run sends this many rows, the packed run
    ``pack_size`` times as many, so both are paced by the same limit for the same time."""
    pack_cost_rows: int = 1_000
    # 10. scaling: the same fan-out at growing sizes
    scaling_ns: tuple[int, ...] = (1_000, 10_000, 100_000)
    # 11. gateway: streams per path (direct, floor relay, gateway)
    gateway_streams: int = 300
    gateway_warmup: int = 20


FULL = Sizes("full")

QUICK = Sizes(
    "quick",
    throughput_n=1_000,
    limit_n=900,
    faults_n=500,
    faults_rounds=2,
    overhead_n=1_000,
    ttft_streams=20,
    stream_view_tokens=1_000,
    cache_n=2_000,
    memory_n=20_000,
    batch_n=10_000,
    pack_requests=60,
    scaling_ns=(1_000, 10_000),
    gateway_streams=100,
)

TINY = Sizes(
    "tiny",
    concurrency=8,
    throughput_n=40,
    throughput_rounds=1,
    throughput_latency_s=0.01,
    limit_n=30,
    limit_rpm=1_200,
    limit_tpm=200_000,
    limit_latency_s=0.01,
    faults_n=40,
    faults_rounds=1,
    faults_latency_s=0.01,
    overhead_n=40,
    overhead_rounds=1,
    ttft_streams=3,
    stream_tokens_per_s=2_000.0,
    stream_view_tokens=100,
    cache_n=40,
    cache_latency_s=0.01,
    memory_n=200,
    batch_n=200,
    batch_rounds=1,
    pack_rpm=1_200,
    pack_requests=20,
    pack_cost_rows=40,
    scaling_ns=(20, 60),
    gateway_streams=3,
    gateway_warmup=2,
)

_BY_NAME = {s.name: s for s in (FULL, QUICK, TINY)}


def by_name(name: str, **overrides: object) -> Sizes:
    """A preset, optionally with a few fields changed (``--set throughput_n=5000``)."""
    return replace(_BY_NAME[name], **overrides)
