"""The call log's cost: client CPU per request of map() with the log off, on without text,
and on with text (the default), in the same run against one simulator process.

Rounds alternate the order of the three, so drift on a shared machine lands on all
of them; the figures are the median per-request CPU of each (all threads of this
process: the event loop and the log's writer thread included) and the median of the
per-round ratios to "off" (paired within a round, so slow drift cancels).
On a loaded machine that ratio is noisy at the few-percent level, so the run also
measures the recording alone (``record_us_per_call``: building and writing N rows,
no network), which is what "on" adds to every call.

    python -m benchmarks.history_overhead --n 2000 --rounds 4
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import llm_magics
from llm_magics.core.history.log import flush_logs
from llm_magics.core.history.record import recorder_for
from llm_magics.core.settings import reset, resolve
from llm_magics.core.types import Request, Response, Usage
from tests.support.sim import SimulatorProcess

from .common import cpu_s, median, prompts, ratio, run_from_command_line, timed

CONTENDERS = {
    "off": {"history": False},
    "on_no_text": {"history": True, "history_text": False},
    "on": {"history": True},
}


def _one(base_url: str, log: Path, name: str, batch: list[str], concurrency: int) -> float:
    reset()
    llm_magics.configure(base_url=base_url, api_key="sk-bench", model="sim-small", cache=False,
                         history_path=str(log), **CONTENDERS[name])

    def run() -> list:
        out = llm_magics.map(batch, concurrency=concurrency)
        flush_logs()  # the rows are written inside the measured span, not after it
        return out

    timing = timed(run)
    assert all(isinstance(r, llm_magics.Response) for r in timing.result)
    return timing.cpu_s / len(batch) * 1000


def _record_cost(log: Path, n: int, text: bool) -> float:
    """CPU microseconds to record one call (row built, buffered, written by the thread)."""
    reset()
    settings = resolve(history_path=str(log), history_text=text, history=True)
    request = Request([{"role": "user", "content": "Define the word number 812 (bench)"}],
                      "sim-small", "http://127.0.0.1:8000/v1")
    response = Response("alpha bravo cedar delta ember fable garnet harbor", "sim-small",
                        Usage(14, 8), cost_usd=0.0001, latency_s=0.01, finish_reason="stop")
    started = cpu_s()
    for _ in range(n):
        recorder = recorder_for(settings, "async")
        assert recorder is not None
        recorder.answer(request, response)
    flush_logs()
    return (cpu_s() - started) / n * 1e6


def run(n: int, concurrency: int, rounds: int) -> dict:
    cpu_ms: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    with SimulatorProcess(latency_s=0) as sim, tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "history.sqlite"
        _one(sim.base_url, log, "on", prompts(200, "warm-up"), concurrency)
        for r in range(rounds):
            order = list(CONTENDERS) if r % 2 == 0 else list(reversed(CONTENDERS))
            for name in order:
                cpu_ms[name].append(_one(sim.base_url, log, name, prompts(n, f"{name} {r}"),
                                         concurrency))
        record_us = {"text": _record_cost(log, 10 * n, True),
                     "no_text": _record_cost(log, 10 * n, False)}
    off = median(cpu_ms["off"])
    return {
        "n": n, "concurrency": concurrency, "rounds": rounds,
        "cpu_ms_per_request": {k: round(median(v), 4) for k, v in cpu_ms.items()},
        "over_off": {k: round(median(ratio(x, o) for x, o in zip(v, cpu_ms["off"], strict=True)),
                              3) for k, v in cpu_ms.items()},
        "record_us_per_call": {k: round(v, 2) for k, v in record_us.items()},
        "record_share_of_off": {k: round(v / 1000 / off, 4) for k, v in record_us.items()},
        "samples": {k: [round(x, 4) for x in v] for k, v in cpu_ms.items()},
    }


def main() -> None:
    run_from_command_line(run, __doc__, n=2000, concurrency=64, rounds=4)


if __name__ == "__main__":
    main()
