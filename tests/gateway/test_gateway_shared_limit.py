"""Two client processes fanning out through one gateway stay within its 300 RPM together.

The upstream simulator enforces 330 RPM and starts with its bucket almost
drained, so any burst or sustained rate above ~330/min would come back as
429s: its 429 count is the first witness. Its ``accepted_times`` are the
second: the steady-state rate they show must not exceed the gateway's 300/min.
Takes about a minute by nature (300 requests at 5 per second).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.env import on_repo_path
from tests.support.gateway import GatewayProcess
from tests.support.rates import most_in_any_window, window_bound
from tests.support.sim import Simulator

RPM = 300
UPSTREAM_RPM = 330
PER_CLIENT = 150
CLIENT = Path(__file__).with_name("fanout_client.py")


def _drain(sim: Simulator, leave: int) -> None:
    """A fresh upstream limit of ``UPSTREAM_RPM``, spent down to ``leave`` requests."""
    sim.configure(rpm=UPSTREAM_RPM)
    limiter = sim.app.sim.limiter  # no traffic yet: safe to touch from this thread
    for _ in range(UPSTREAM_RPM - leave):
        assert limiter.check("sim-small", 1).allowed


def test_two_processes_share_one_rpm_limit(sim: Simulator, tmp_path: Path) -> None:
    args = ["--upstream", sim.base_url, "--state-dir", str(tmp_path), "--rpm", str(RPM),
            "--no-cache"]
    with GatewayProcess(args) as gateway:
        _drain(sim, leave=10)
        sim.reset_stats()
        env = on_repo_path(os.environ)
        clients = [
            subprocess.Popen(
                [sys.executable, str(CLIENT), gateway.base_url, str(PER_CLIENT), f"p{i}", "16"],
                stdout=subprocess.PIPE, text=True, env=env)
            for i in range(2)
        ]
        results = [json.loads(c.communicate(timeout=240)[0]) for c in clients]
        stats = sim.stats

    assert [r["ok"] for r in results] == [PER_CLIENT, PER_CLIENT], results
    assert stats["chat_ok"] == 2 * PER_CLIENT
    assert stats["rate_limited"] <= 2  # the upstream saw (almost) no 429s

    times = sorted(stats["accepted_times"])
    steady = times[10:]  # after the limiter's one-second burst
    rate = (len(steady) - 1) / (steady[-1] - steady[0]) * 60
    assert rate <= RPM * 1.03, rate
    assert rate >= RPM * 0.85, rate  # and the two clients together did use the budget
    window = most_in_any_window(times, 10.0)
    assert window <= window_bound(RPM, 10.0, burst=RPM / 60), window  # 50 a window (+ burst)
    print(f"\nupstream accepted rate {rate:.1f}/min, 429s {stats['rate_limited']}, "
          f"busiest 10 s window {window}")

