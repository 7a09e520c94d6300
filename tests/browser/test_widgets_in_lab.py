"""The widgets in a real JupyterLab in headless Chromium, against the simulator.

What a user sees is what is asserted: rendered widget DOM read from the page
(text growing, the footer's tok/s, the Stop button, the batch row's state and
the progress bar's width), with each cell run through the UI (Shift+Enter).
"""

from __future__ import annotations

import re
import time
from typing import Any

from llm_magics.server.sim import expected_answer

SETUP = "%load_ext llm_magics\nimport llm_magics\nimport pandas as pd"

# One snapshot of a StreamView in a cell's output, read in the page in one go.
_STREAM_STATE = """(area) => {
  const view = area.querySelector('.widget-vbox');
  if (!view) return null;
  const body = view.querySelector(':scope > .widget-html .widget-html-content');
  const footer = view.querySelector('.widget-hbox .widget-html .widget-html-content');
  const button = view.querySelector('.widget-button');
  return {html: body ? body.innerHTML : '', text: body ? body.innerText : '',
          footer: footer ? footer.innerText : '', button: button ? button.innerText : '',
          disabled: button ? button.disabled : null};
}"""

# Rows of a BatchTracker or a FanoutProgress: label text and progress-bar fill.
_BARS = """(area) => Array.from(
    area.querySelectorAll('.widget-hprogress, .widget-vprogress')).map(p => {
  const bar = p.querySelector('.progress-bar');
  const box = p.closest('.widget-hbox, .widget-vbox');
  return {width: bar ? bar.style.width : '', classes: bar ? bar.className : '',
          text: box ? box.innerText : ''};
})"""


def stream_state(nb: Any, index: int) -> dict[str, Any] | None:
    return nb.output(index).evaluate(_STREAM_STATE)


def wait_for(check: Any, timeout: float, what: str, nb: Any, every: float = 50) -> Any:
    """Poll ``check()`` in the page's time until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        nb.page.wait_for_timeout(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def printed(nb: Any, index: int, pattern: str) -> re.Match[str]:
    text = nb.text(index)
    match = re.search(pattern, text)
    assert match, f"cell {index} printed {text!r}, expected /{pattern}/"
    return match


def full_answer(prompt: str, sim: Any) -> str:
    return expected_answer({"model": "gpt-4o-mini",
                            "messages": [{"role": "user", "content": prompt}]}, sim.config)


def test_stream_text_grows_live_with_tokens_per_second(open_notebook, sim, shoot):
    sim.configure(token_latency_s=0.04)
    prompt = "TOKENS:150 Tell a slow story about rivers."
    nb = open_notebook([SETUP, f"%%llm_stream\n{prompt}",
                        "print('LEN', len(_llm.text), 'TOKENS', _llm.usage.completion_tokens)"])
    nb.run(0)
    nb.run(1, wait=False)

    snapshots: list[str] = []
    footers: list[str] = []
    live_shot = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = stream_state(nb, 1)
        if state:
            if state["text"] and (not snapshots or state["text"] != snapshots[-1]):
                snapshots.append(state["text"])
                footers.append(state["footer"])
            if (live_shot is None and "tok/s" in state["footer"]
                    and "streaming" in state["footer"] and len(state["text"]) > 200):
                live_shot = shoot(nb.cell(1), "stream-live")
            if state["footer"].endswith("done"):
                break
        nb.page.wait_for_timeout(100)
    else:
        raise AssertionError(f"stream never finished; last footer {footers[-1:]}")

    final = state["text"]
    growing = [s for s in snapshots if s != final]
    assert len(growing) >= 3, f"only {len(growing)} partial snapshots before the end"
    lengths = [len(s) for s in snapshots]
    assert lengths == sorted(lengths), "the rendered text shrank while streaming"
    assert any(re.search(r"\d+(\.\d+)? tok/s", f) and "streaming" in f for f in footers), footers
    assert re.search(r"TTFT \d+\.\d+ s · \d+(\.\d+)? tok/s · 150 tokens · .* · done$",
                     state["footer"]), state["footer"]
    assert state["disabled"], "Stop is still enabled after the stream ended"
    assert live_shot is not None
    shoot(nb.cell(1), "stream-done")

    answer = full_answer(prompt, sim)
    assert " ".join(final.split()) == " ".join(answer.split())  # rendered markdown, same words
    nb.run(2)
    match = printed(nb, 2, r"LEN (\d+) TOKENS (\d+)")
    assert int(match.group(1)) == len(answer) and int(match.group(2)) == 150
    assert nb.errors() == []


def test_stop_button_keeps_partial_text(open_notebook, sim, shoot):
    sim.configure(token_latency_s=0.05)
    prompt = "TOKENS:2000 Tell an endless story."
    nb = open_notebook([SETUP, f"%%llm_stream\n{prompt}",
                        "print('LEN', len(_llm.text), 'STATUS', _llm.finish_reason)"])
    nb.run(0)
    nb.run(1, wait=False)

    def streaming() -> dict[str, Any] | None:
        state = stream_state(nb, 1)
        return state if state and len(state["text"]) > 150 and "tok/s" in state["footer"] else None

    wait_for(streaming, 60, "some streamed text", nb)
    nb.cell(1).get_by_role("button", name=re.compile("Stop")).click()

    def stopped() -> dict[str, Any] | None:
        state = stream_state(nb, 1)
        return state if state and state["footer"].endswith("stopped") else None

    state = wait_for(stopped, 20, "the footer to say stopped", nb)
    assert state["disabled"], "Stop is still enabled after stopping"
    nb.page.wait_for_timeout(1000)  # the stream must stay stopped: nothing more arrives
    after = stream_state(nb, 1)
    assert after["text"] == state["text"], "text kept growing after Stop"
    shoot(nb.cell(1), "stream-stopped")
    # the server saw the request go away, not run to its end
    wait_for(lambda: sim.stats["in_flight"] == 0, 10, "the simulator to see the stream end", nb)

    nb.wait_done(1)
    nb.run(2)
    match = printed(nb, 2, r"LEN (\d+) STATUS (\w+)")
    kept, full = int(match.group(1)), len(full_answer(prompt, sim))
    assert 0 < kept < full / 2, (kept, full)
    assert match.group(2) == "stopped"
    assert len(" ".join(state["text"].split())) <= kept  # what was shown is what was kept
    assert nb.errors() == []


def test_batch_tracker_follows_job_to_completed(open_notebook, sim, shoot):
    sim.configure(token_latency_s=0.0, batch_step_s=2.0)
    nb = open_notebook([
        SETUP,
        'job = llm_magics.batch.submit(["Define alpha", "Define bravo", "Define cedar"])',
        "%llm_batch status job --poll 0.25",
    ])
    nb.run(0)
    nb.run(1)
    nb.run(2)
    count = nb.wait_done(2)

    def row() -> dict[str, Any] | None:
        rows = nb.output(2).evaluate(_BARS)
        return rows[0] if rows else None

    states: list[str] = []
    shots: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = row()
        if current:
            match = re.search(r"\b(submitting|validating|in_progress|finalizing|completed|"
                              r"failed|expired|cancelled)\b", current["text"])
            if match and (not states or states[-1] != match.group(1)):
                states.append(match.group(1))
                if match.group(1) not in shots:
                    shots[match.group(1)] = shoot(nb.cell(2), f"batch-{match.group(1)}")
            if states and states[-1] == "completed":
                break
        nb.page.wait_for_timeout(100)
    assert states and states[0] == "validating", states
    assert states[-1] == "completed", states
    assert "in_progress" in states, states
    done = row()
    assert "3 done / 0 failed / 3" in done["text"], done["text"]
    assert done["width"] == "100%" and "success" in done["classes"], done
    assert nb.wait_done(2) == count, "the status cell was re-run"
    shoot(nb.cell(2), "batch-tracker")
    assert nb.errors() == []


def test_fanout_progress_reaches_100_percent(open_notebook, sim, shoot):
    sim.configure(token_latency_s=0.05)
    nb = open_notebook([
        SETUP,
        'df = pd.DataFrame({"q": [f"question {i}" for i in range(24)]})\n'
        'df["a"] = df.llm.apply("TOKENS:8 Answer {q}", concurrency=4)',
        "print('ANSWERED', df['a'].map(lambda a: isinstance(a, str) and len(a) > 0).sum())",
    ])
    nb.run(0)
    nb.run(1, wait=False)

    seen: list[str] = []

    def finished() -> dict[str, Any] | None:
        bars = nb.output(1).evaluate(_BARS)
        if bars:
            seen.append(bars[0]["width"])
            if bars[0]["width"] == "100%" and "done" in bars[0]["text"]:
                return bars[0]
        return None

    bar = wait_for(finished, 60, "the progress bar to reach 100%", nb, every=100)
    assert any(w not in ("", "100%") for w in seen), f"never saw a partial bar: {set(seen)}"
    assert "24/24 rows" in bar["text"] and "0 errors" in bar["text"], bar["text"]
    assert "success" in bar["classes"], bar
    nb.wait_done(1)
    shoot(nb.cell(1), "progress-done")
    nb.run(2)
    printed(nb, 2, r"ANSWERED 24\b")
    assert nb.errors() == []
