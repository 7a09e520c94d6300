"""Benchmark the embedded local model: start time, first token, tokens/s, concurrency.

    python benchmarks/local_model.py [--runs 3] [--tokens 64] [--json out.json]

Our path is llama.cpp's OpenAI server reached through the ``openai`` SDK; the
baseline is the same GGUF driven in-process by ``llama_cpp.Llama`` (no HTTP,
no SSE), so the ratios show what the server and the wire cost. The concurrency
section shows whether the server overlaps requests (ratio ~1/N) or queues them
(ratio ~1.0), and that concurrent streams are not cut short.

Uses a private state directory, so it never touches a server you already run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PROMPT = "Write a long, detailed paragraph about the ocean."
_counter = iter(range(10**9))


def _messages() -> list[dict[str, str]]:
    # A fresh number up front: llama.cpp reuses the KV cache of a repeated prefix, and an
    # identical prompt would make time-to-first-token look like a cache hit.
    return [{"role": "user", "content": f"({next(_counter)}) {PROMPT}"}]


def _stream_once(client: Any, model: str, tokens: int) -> dict[str, float]:
    t0 = time.perf_counter()
    stream = client.chat.completions.create(
        model=model, messages=_messages(), max_tokens=tokens,
        stream=True, temperature=0.7, extra_body={"min_tokens": tokens},
    )
    stamps = [time.perf_counter() for chunk in stream
              if chunk.choices and chunk.choices[0].delta.content]
    return _timing(t0, stamps)


def _timing(t0: float, stamps: list[float]) -> dict[str, float]:
    total = stamps[-1] - t0
    decode = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return {"ttft_s": stamps[0] - t0, "decode_tok_s": decode, "tokens": len(stamps),
            "total_s": total, "overall_tok_s": len(stamps) / total}


def _baseline_once(llama: Any, tokens: int) -> dict[str, float]:
    t0 = time.perf_counter()
    stream = llama.create_chat_completion(
        messages=_messages(), max_tokens=tokens, stream=True,
        temperature=0.7, logits_processor=_min_tokens(llama, tokens),
    )
    stamps = [time.perf_counter() for chunk in stream
              if chunk["choices"] and chunk["choices"][0]["delta"].get("content")]
    return _timing(t0, stamps)


def _min_tokens(llama: Any, tokens: int) -> Any:
    import llama_cpp

    return llama_cpp.LogitsProcessorList([llama_cpp.MinTokensLogitsProcessor(tokens,
                                                                             llama.token_eos())])


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in rows), 4) for key in rows[0]}


def _concurrency(client: Any, model: str, n: int, tokens: int) -> dict[str, Any]:
    def one(_: int) -> int:
        reply = client.chat.completions.create(
            model=model, messages=_messages(), max_tokens=tokens,
            extra_body={"min_tokens": tokens},
        )
        return reply.usage.completion_tokens

    t0 = time.perf_counter()
    for i in range(n):
        one(i)
    sequential = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(one, range(n)))
    concurrent = time.perf_counter() - t0

    # Streams side by side: every one must deliver all its tokens (no interruption).
    counts: list[int] = [0] * n
    firsts: list[float] = [0.0] * n
    start = threading.Barrier(n)

    def stream(i: int) -> None:
        start.wait()
        t = time.perf_counter()
        for chunk in client.chat.completions.create(
            model=model, messages=_messages(), max_tokens=tokens,
            stream=True, extra_body={"min_tokens": tokens},
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                if counts[i] == 0:
                    firsts[i] = time.perf_counter() - t
                counts[i] += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(stream, range(n)))
    streams_s = time.perf_counter() - t0
    return {
        "requests": n,
        "sequential_s": round(sequential, 3),
        "concurrent_s": round(concurrent, 3),
        "concurrent_over_sequential": round(concurrent / sequential, 3),
        # Queued streams start one after another; overlapped ones all start at once.
        "verdict": "serialized" if max(firsts) > 0.5 * streams_s else "parallel",
        "concurrent_stream_tokens": counts,
        "concurrent_stream_ttft_s": sorted(round(f, 3) for f in firsts),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    os.environ["LLM_MAGICS_STATE_DIR"] = tempfile.mkdtemp(prefix="llm-magics-bench-")
    if "OMP_WAIT_POLICY" not in os.environ:  # the baseline gets the server's OpenMP setting
        os.environ.setdefault("GOMP_SPINCOUNT", "1000")
    from openai import OpenAI

    from llm_magics import local
    from llm_magics.local.server import ServerOptions

    path = local.find_model_path()
    results: dict[str, Any] = {
        "model_file": str(path),
        "model_file_mib": round(path.stat().st_size / 2**20, 1),
        "cpu_cores": os.cpu_count(),
        "n_threads": ServerOptions.from_env().n_threads,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }

    starts = []
    for _ in range(args.runs):
        local.stop()
        t0 = time.perf_counter()
        server = local.start()
        starts.append(time.perf_counter() - t0)
    results["server_start_s"] = {"median": round(statistics.median(starts), 3),
                                 "all": [round(s, 3) for s in starts]}

    client = OpenAI(base_url=server.base_url, api_key="local", max_retries=0)
    _stream_once(client, server.model, 8)  # warm-up
    ours = _median([_stream_once(client, server.model, args.tokens) for _ in range(args.runs)])
    results["server_stream"] = ours
    results["concurrency"] = _concurrency(client, server.model, args.concurrency, args.tokens)
    local.stop()

    from llama_cpp import Llama

    from llm_magics.local import _serve

    _serve._avoid_amx_buffers()
    opts = ServerOptions.from_env()
    llama = Llama(model_path=str(path), n_ctx=opts.n_ctx, n_threads=opts.n_threads,
                  n_threads_batch=opts.n_threads, verbose=False)
    _baseline_once(llama, 8)
    base = _median([_baseline_once(llama, args.tokens) for _ in range(args.runs)])
    results["in_process_baseline"] = base
    results["ratios_server_over_in_process"] = {
        "ttft": round(ours["ttft_s"] / base["ttft_s"], 2),
        "decode_tok_s": round(ours["decode_tok_s"] / base["decode_tok_s"], 2),
    }

    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
