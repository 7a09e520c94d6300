"""Batch JSONL: what llm-magics spends building a job's input file and reading its output.

Ours is the path a batch job takes (``core.batch.submit.prepare_lines``: a
stable ``custom_id`` per distinct request, duplicate folding, size checks;
``split_sizes`` and the upload bytes; then ``parse_jsonl`` + ``read_record`` +
``outcome_from_record`` for every output line, as ``core.batch.lifecycle`` does).
The baseline is the minimum anyone must do: ``json.dumps`` a line per prompt,
and ``json.loads`` each output line to pick the text. The output file is made
by the simulator's own batch answerer, outside the timing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .common import MODEL, cpu_s, prompts

__all__ = ["measure_batch"]

BASE_URL = "http://127.0.0.1:9/v1"  # never contacted: the batch path only needs its name


def _output_file(bodies: list[tuple[str, dict[str, Any]]]) -> bytes:
    """The output file a Batch API server writes, answers as the simulator would give them."""
    from llm_magics.server.sim import SimConfig, estimate_prompt_tokens, expected_answer

    config = SimConfig()
    lines = []
    for i, (cid, body) in enumerate(bodies):
        text = expected_answer(body, config)
        prompt, completion = estimate_prompt_tokens(body["messages"]), len(text.split())
        answer = {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 0,
                  "model": body["model"],
                  "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                               "message": {"role": "assistant", "content": text}}],
                  "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                            "total_tokens": prompt + completion}}
        lines.append(json.dumps({"id": f"batch_req_{i}", "custom_id": cid,
                                 "response": {"status_code": 200, "request_id": f"req_{i}",
                                              "body": answer}, "error": None}))
    return ("\n".join(lines) + "\n").encode()


def _ours_build(texts: list[str]) -> tuple[bytes, list[str]]:
    from llm_magics.core.batch.constants import MAX_BYTES_PER_BATCH, MAX_REQUESTS_PER_BATCH
    from llm_magics.core.batch.split import split_sizes
    from llm_magics.core.batch.submit import prepare_lines
    from llm_magics.core.types import Request, to_messages

    requests = [Request(to_messages(t, None), MODEL, BASE_URL) for t in texts]
    prepared = prepare_lines(requests, max_bytes=MAX_BYTES_PER_BATCH)
    encoded = [line.encode() for _, line, _ in prepared.lines]
    parts = split_sizes([len(b) for b in encoded], max_requests=MAX_REQUESTS_PER_BATCH,
                        max_bytes=MAX_BYTES_PER_BATCH)
    data = b"".join(b"\n".join(encoded[p.start:p.stop]) + b"\n" for p in parts)
    return data, [cid for cid, _, _ in prepared.lines]


def _ours_parse(content: bytes) -> list[Any]:
    from llm_magics.core.batch.jsonl import (
        gc_paused,
        outcome_from_record,
        parse_jsonl,
        read_record,
    )

    with gc_paused():  # as core.batch.lifecycle reads a downloaded file
        results = [read_record(record, MODEL, raw) for record, raw in parse_jsonl(content)]
    return [outcome_from_record(json.loads(r.record), MODEL, BASE_URL) for r in results]


def _bare_build(texts: list[str]) -> bytes:
    lines = [json.dumps({"custom_id": f"req-{i}", "method": "POST",
                         "url": "/v1/chat/completions",
                         "body": {"model": MODEL,
                                  "messages": [{"role": "user", "content": t}]}})
             for i, t in enumerate(texts)]
    return ("\n".join(lines) + "\n").encode()


def _bare_parse(content: bytes) -> list[str]:
    out = []
    for raw in content.decode().splitlines():
        record = json.loads(raw)
        out.append(record["response"]["body"]["choices"][0]["message"]["content"])
    return out


def _clock(fn: Any, *args: Any) -> tuple[float, float, Any]:
    cpu0, wall0 = cpu_s(), time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - wall0, cpu_s() - cpu0, result


def measure_batch(n: int) -> dict[str, Any]:
    """Build and parse ``n`` requests both ways; also checks every answer came back."""
    _ours_parse(_ours_build(prompts(2, "warm"))[0])  # imports and first-call costs: untimed
    texts = prompts(n, "batch")
    ours_build_wall, ours_build_cpu, (data, ids) = _clock(_ours_build, texts)
    bare_build_wall, bare_build_cpu, bare_data = _clock(_bare_build, texts)
    bodies = [(cid, json.loads(line)["body"]) for cid, line in
              zip(ids, data.decode().splitlines(), strict=True)]
    output = _output_file(bodies)
    ours_parse_wall, ours_parse_cpu, outcomes = _clock(_ours_parse, output)
    bare_parse_wall, bare_parse_cpu, texts_back = _clock(_bare_parse, output)
    answered = sum(1 for o in outcomes if getattr(o, "text", None))
    return {
        "n": n,
        "lines": len(ids),
        "input_mb": len(data) / 1e6,
        "bare_input_mb": len(bare_data) / 1e6,
        "output_mb": len(output) / 1e6,
        "ours_build_s": ours_build_wall,
        "ours_build_cpu_s": ours_build_cpu,
        "bare_build_s": bare_build_wall,
        "bare_build_cpu_s": bare_build_cpu,
        "ours_parse_s": ours_parse_wall,
        "ours_parse_cpu_s": ours_parse_cpu,
        "bare_parse_s": bare_parse_wall,
        "bare_parse_cpu_s": bare_parse_cpu,
        "answered": answered,
        "bare_answered": sum(1 for t in texts_back if t),
    }
