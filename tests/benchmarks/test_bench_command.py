"""``python -m benchmarks --tiny`` end to end, so the benchmark keeps working as the code moves.

No timing is asserted (the machine is shared and tiny runs say nothing about
speed); what is checked is that every scenario ran every contender, that the
answers all came back where they must, and that the three outputs were written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is not installed; plain `pytest` may not see it
    sys.path.insert(0, str(ROOT))

pytestmark = pytest.mark.timeout(600)  # the module's fixture runs the whole command once

# Without this, importing litellm tries to download its price table (the network is closed).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # noqa: E402,F401 - the bench extra (in dev): a missing one is a failure
import matplotlib  # noqa: E402,F401


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--out-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    return {"dir": out, "results": results, "sizes": results["sizes"],
            "s": results["scenarios"], "log": proc.stderr}


def test_every_scenario_ran_without_error(bench):
    from benchmarks.scenarios import ORDER

    assert list(bench["s"]) == list(ORDER)
    for name, result in bench["s"].items():
        assert "error" not in result, (name, result.get("error"))
        assert result["table"]["rows"], name
        assert result["targets"] is not None, name


def test_outputs_are_written(bench):
    out = bench["dir"]
    assert (out / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "benchmarks.md").read_text()
    assert "## Targets" in markdown
    for result in bench["s"].values():
        assert f"## {result['title']}" in markdown


def test_no_contender_connects_outside_loopback(bench):
    assert bench["results"]["outside_connections"] == []


def test_throughput_answers_every_prompt_for_every_contender(bench):
    n = bench["sizes"]["throughput_n"]
    contenders = bench["s"]["throughput"]["trials"]
    assert {"bare", "bare-aiohttp", "litellm", "litellm-router", "ours",
            "ours-httpx"} <= set(contenders)
    for name, runs in contenders.items():
        assert all(r["ok"] == n and r["sim_requests"] == n for r in runs), name


def test_rate_limited_run_answers_every_prompt_for_ours(bench):
    n = bench["sizes"]["limit_n"]
    trials = bench["s"]["rate_limit"]["trials"]
    for label in ("ours", "ours-learned"):
        assert trials[label]["ok"] == n and trials[label]["failed"] == 0, label
    assert set(trials) >= {"bare", "bare+retries", "litellm", "litellm-router"}


def test_faults_are_injected_and_ours_retries_through_them(bench):
    n = bench["sizes"]["faults_n"]
    trials = bench["s"]["faults"]["trials"]
    assert all(t["ok"] == n for t in trials["ours"])
    assert all(t["sim_requests"] > n for t in trials["ours"])  # some answers needed a retry
    assert all(t["ok"] < n for t in trials["bare"])  # the same faults sink the loop without retries


def test_overhead_measures_cpu_for_every_contender(bench):
    summary = bench["s"]["overhead"]["summary"]
    assert summary["ours_over_bare"] > 0
    assert "ours-sdk" in summary["contenders"]  # the lean path is measured against the SDK's
    for name, figures in summary["contenders"].items():
        assert figures["cpu_s_per_1000"] > 0, name


def test_streaming_counts_ttft_and_widget_updates(bench):
    summary = bench["s"]["streaming"]["summary"]
    assert set(summary["ttft_ms"]) == {"bare", "bare-aiohttp", "ours", "ours-httpx", "ours-sdk"}
    view = summary["stream_view"]
    assert view["text_complete"]
    assert view["tokens"] == bench["sizes"]["stream_view_tokens"]
    assert view["comm_messages"] >= view["show_calls"] > 0


def test_cache_rerun_sends_no_request(bench):
    summary = bench["s"]["cache"]["summary"]
    assert summary["rerun_calls"] == 0 and summary["fresh_calls"] == 0
    trials = bench["s"]["cache"]["trials"]
    assert all(t["ok"] == bench["sizes"]["cache_n"] for t in trials.values())


def test_memory_runs_both_sides_to_completion(bench):
    n = bench["sizes"]["memory_n"]
    summary = bench["s"]["memory"]["summary"]
    assert summary["ours"]["ok"] == n and summary["bare"]["ok"] == n
    assert summary["ours"]["peak_mb"] > 0


def test_scaling_answers_every_row_at_every_size(bench):
    summary = bench["s"]["scaling"]["summary"]
    assert [int(n) for n in summary] == list(bench["sizes"]["scaling_ns"])
    for n, sides in summary.items():
        assert sides["ours"]["ok"] == sides["bare"]["ok"] == int(n)
        assert sides["ours"]["cpu_s"] > 0 and sides["ours"]["peak_mb"] > 0


def test_batch_reads_back_every_line(bench):
    assert bench["s"]["batch"]["summary"]["answered"] == bench["sizes"]["batch_n"]


def test_main_takes_argv_for_the_cli(tmp_path):
    from benchmarks.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
    assert main(["--only", "nonsense", "--out-dir", str(tmp_path)]) == 2


def test_a_merged_rerun_replaces_its_scenarios_and_is_listed(bench):
    from benchmarks.__main__ import merged
    from benchmarks.report import write_markdown

    full = json.loads(json.dumps(bench["results"]))
    rerun = json.loads(json.dumps(bench["results"]))
    rerun["scenarios"] = {"faults": {**full["scenarios"]["faults"], "title": "3. Faults again"}}
    rerun["generated_at"] = "2030-01-01 00:00 UTC"
    result = merged(full, rerun)
    assert list(result["scenarios"]) == list(bench["s"])  # the order of the full run is kept
    assert result["scenarios"]["faults"]["title"] == "3. Faults again"
    assert result["scenarios"]["overhead"] == bench["s"]["overhead"]
    markdown = bench["dir"] / "merged.md"
    write_markdown(result, markdown)
    assert "Re-run on 2030-01-01 00:00 UTC" in markdown.read_text()
