"""``%%llm_stream`` in both modes: plain text (no widget front end) and the live widget.

The widget mode is driven exactly as in a notebook: the cell returns while the
stream runs, and the *next* cell's ``pre_run_cell`` hook settles it.
"""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from jupyter_helpers import MODEL, interrupt_when, requests_seen, run, user

from llm_magics.jupyter.cell_error import CellError, CellRejected
from llm_magics.jupyter.magics import NO_WIDGETS_ENV
from llm_magics.server.sim import expected_answer


def answer_for(sim, prompt: str) -> str:
    return expected_answer({"model": MODEL, "messages": user(prompt)}, sim.config)


# -- plain text mode -------------------------------------------------------------------------
def test_without_a_kernel_the_text_is_printed_as_it_arrives(ip, sim, magics):
    assert not magics.widgets_enabled()
    result, out = run(ip, f"%%llm_stream -m {MODEL} --out story\nTell a story")
    expected = answer_for(sim, "Tell a story")
    assert result.success
    assert out.stdout == expected + "\n" and not out.outputs
    assert ip.user_ns["_llm"].text == expected and ip.user_ns["story"] is ip.user_ns["_llm"]
    assert ip.user_ns["_llm"].ttft_s is not None


@pytest.mark.parametrize("switch", ["flag", "env"])
def test_widgets_can_be_switched_off_inside_a_kernel(ip, sim, magics, monkeypatch, switch):
    magics.widgets = "always"
    flag = "--no-widget" if switch == "flag" else ""
    if switch == "env":
        monkeypatch.setenv(NO_WIDGETS_ENV, "1")
    result, out = run(ip, f"%%llm_stream -m {MODEL} {flag}\nhello")
    assert result.success and out.stdout == answer_for(sim, "hello") + "\n"
    assert not out.outputs and len(magics.pending) == 0


def test_interrupt_stops_the_stream_and_keeps_the_partial_text(ip, sim, magics):
    sim.configure(token_latency_s=0.02)
    started = time.monotonic()
    interrupt_when(lambda: time.monotonic() - started > 0.3)  # ~15 of 500 tokens in
    result, out = run(ip, f"%%llm_stream -m {MODEL}\nTOKENS:500 go")
    assert isinstance(result.error_in_exec, CellError)
    (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("KeyboardInterrupt")]
    assert "partial text is in _llm" in line
    partial = ip.user_ns["_llm"]
    assert partial.finish_reason == "interrupted" and 0 < len(partial.text.split()) < 500
    assert out.stdout.startswith(partial.text)  # what was printed is what was kept
    assert time.monotonic() - started < 5  # it did not run to the end (500 x 20 ms)


def test_a_broken_stream_keeps_its_text_and_fails_in_one_line(ip, sim):
    result, out = run(ip, f"%%llm_stream -m {MODEL} --no-cache\nDROP:4 TOKENS:20 go")
    assert isinstance(result.error_in_exec, CellError)
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("StreamInterruptedError: ") and "partial text is kept" in last
    assert len(ip.user_ns["_llm"].text.split()) == 4


def test_an_error_before_any_text_sets_no_answer(ip, sim):
    result, out = run(ip, f"%%llm_stream -m {MODEL}\nSTATUS:401 go")
    assert not result.success
    assert out.stdout.strip().splitlines()[-1].startswith("AuthenticationError: ")
    assert "_llm" not in ip.user_ns


def test_missing_variable_fails_before_any_request(ip, sim):
    result, out = run(ip, f"%%llm_stream -m {MODEL}\nAbout {{nowhere_var}}")
    assert out.stdout.startswith("TemplateError: ") and requests_seen(sim) == 0


# -- widget mode ------------------------------------------------------------------------------
@pytest.fixture
def widgets(magics):
    magics.widgets = "always"
    return magics


def start_stream(ip, magics, source: str):
    """Run a %%llm_stream cell in widget mode; return its pending item and the cell output."""
    result, out = run(ip, source)
    assert result.success, out.stdout
    (item,) = magics.pending.items
    return item, out


def test_widget_cell_returns_at_once_and_the_next_cell_sees_the_finished_answer(ip, sim, widgets):
    sim.configure(token_latency_s=0.02)
    item, out = start_stream(ip, widgets, f"%%llm_stream -m {MODEL} --out tale\nTOKENS:100 go")
    assert not item.run.finished  # the cell returned with 100 x 20 ms still to go
    assert "application/vnd.jupyter.widget-view+json" in out.outputs[0].data

    result, next_out = run(ip, "seen = _llm.text")  # the pre_run_cell hook waits first
    assert result.success and item.run.finished
    expected = answer_for(sim, "TOKENS:100 go")
    assert ip.user_ns["seen"] == expected and ip.user_ns["tale"].text == expected
    (update,) = [o for o in next_out.outputs if o.update]  # the saved output gets the text
    assert update.data["text/plain"] == expected
    assert expected.split()[0] in update.data["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in update.data


def test_widget_value_grows_during_a_slow_stream_and_ends_as_the_response(ip, sim, widgets):
    sim.configure(latency_s=0.2, token_latency_s=0.02)
    item, _ = start_stream(ip, widgets, f"%%llm_stream -m {MODEL}\nTOKENS:40 go")
    values: list[str] = []
    item.view.observe(lambda change: values.append(change["new"]), names="value")
    run(ip, "pass")
    response = ip.user_ns["_llm"]
    assert len(values) >= 5
    assert all(b.startswith(a) and len(b) > len(a) for a, b in pairwise(values))
    assert values[-1] == response.text == item.view.value
    assert item.view.status == "done" and item.view.stop_button.disabled


def test_script_said_by_the_model_never_reaches_the_widget_html(ip, sim, widgets):
    sim.configure(latency_s=0.2, token_latency_s=0.005)
    attack = "Hi <script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))"
    item, _ = start_stream(ip, widgets, f"%%llm_stream -m {MODEL}\nECHO: {attack}")
    bodies: list[str] = []
    item.view._body.observe(lambda change: bodies.append(change["new"]), names="value")
    _, out = run(ip, "pass")
    assert item.view.value == attack  # the model really said it
    final_html = [o.data["text/html"] for o in out.outputs if o.update]
    for html in [*bodies, *final_html]:
        assert "<script" not in html and "<img" not in html and "onerror" not in html
        assert 'href="javascript' not in html
    assert bodies and "Hi" in bodies[-1]


def test_a_fast_stream_updates_the_widget_at_most_about_20_times_a_second(ip, sim, widgets):
    sim.configure(latency_s=0.2, token_latency_s=0.002)
    item, _ = start_stream(ip, widgets, f"%%llm_stream -m {MODEL}\nTOKENS:500 go")
    stamps: list[float] = []
    item.view.observe(lambda change: stamps.append(time.monotonic()), names="value")
    run(ip, "pass")
    assert len(item.run.parts) == 500
    duration = stamps[-1] - stamps[0]
    assert duration > 0.5  # the stream really took a while (500 x 2 ms)
    assert len(stamps) <= 25 * duration + 2, (len(stamps), duration)
    assert len(stamps) >= 5  # and it did update live, not only at the end


def test_stop_button_stops_the_stream_and_keeps_the_text(ip, sim, widgets):
    sim.configure(token_latency_s=0.02)
    item, _ = start_stream(ip, widgets, f"%%llm_stream -m {MODEL} --out kept\nTOKENS:500 go")
    deadline = time.monotonic() + 5
    while len(item.run.parts) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    item.view.stop_button.click()  # what a click in the browser runs in the kernel
    assert item.run.wait(5).done()
    run(ip, "pass")
    kept = ip.user_ns["kept"]
    assert kept.finish_reason == "stopped" and 5 <= len(kept.text.split()) < 500
    assert kept.text == item.view.value
    assert item.view.status == "stopped" and item.view.stop_button.disabled


def test_interrupt_while_the_next_cell_waits_stops_the_stream_and_skips_that_cell(
    ip, sim, widgets
):
    sim.configure(token_latency_s=0.02)
    item, _ = start_stream(ip, widgets, f"%%llm_stream -m {MODEL}\nTOKENS:500 go")
    ip.user_ns.pop("ran", None)
    interrupt_when(lambda: len(item.run.parts) >= 5)
    result, out = run(ip, "ran = True")
    assert isinstance(result.error_before_exec, CellRejected)
    assert "ran" not in ip.user_ns  # Run All stops here, as for any interrupt
    assert out.stdout.strip().startswith("KeyboardInterrupt: the stream was stopped")
    partial = ip.user_ns["_llm"]
    assert partial.finish_reason == "interrupted" and 5 <= len(partial.text.split()) < 500
    assert run(ip, "ran = True")[0].success  # only that one cell was skipped


def test_stream_chat_records_the_exchange_when_it_finishes(ip, sim, widgets):
    start_stream(ip, widgets, f"%%llm_stream -m {MODEL} --chat\nECHO: streamed answer")
    run(ip, f"%%llm -m {MODEL} --chat\nfollow up")
    messages = [*user("ECHO: streamed answer"), {"role": "assistant", "content": "streamed answer"},
                *user("follow up")]
    assert ip.user_ns["_llm"].text == expected_answer({"model": MODEL, "messages": messages},
                                                      sim.config)


def test_widget_shows_the_error_and_keeps_the_partial_text(ip, sim, widgets):
    item, _ = start_stream(ip, widgets, f"%%llm_stream -m {MODEL} --no-cache\nDROP:3 TOKENS:9 x")
    _, out = run(ip, "pass")
    assert item.view.status == "error"
    assert "StreamInterruptedError" in item.view._footer.value
    assert len(ip.user_ns["_llm"].text.split()) == 3
    (update,) = [o for o in out.outputs if o.update]
    assert "[" in update.data["text/plain"] and "error" in update.data["text/plain"]
