"""``%%llm`` through a real IPython shell against the simulator."""

from __future__ import annotations

import json
import time

import pytest
from jupyter_helpers import API_KEY, MODEL, interrupt_when, requests_seen, run, user

from llm_magics.core.types import Response
from llm_magics.jupyter.cell_error import CellError
from llm_magics.server.sim import expected_answer


def answer_for(sim, messages, **body) -> str:
    return expected_answer({"model": MODEL, "messages": messages, **body}, sim.config)


def test_answer_is_rendered_as_sanitised_markdown_and_kept_in__llm(ip, sim):
    result, out = run(ip, f"%%llm -m {MODEL}\nECHO: hello **world**")
    assert result.success
    (shown,) = out.outputs
    assert shown.data["text/html"] == "<p>hello <strong>world</strong></p>\n"
    assert shown.data["text/plain"] == "hello **world**"
    assert "text/markdown" not in shown.data
    assert isinstance(ip.user_ns["_llm"], Response) and ip.user_ns["_llm"].text == "hello **world**"


def test_out_stores_the_response_under_the_given_name(ip, sim):
    result, _ = run(ip, f"%%llm -m {MODEL} --out answer\nName a colour")
    assert result.success
    assert ip.user_ns["answer"] is ip.user_ns["_llm"]
    assert ip.user_ns["answer"].text == answer_for(sim, user("Name a colour"))


def test_model_and_system_prompt_shape_the_request(ip, sim):
    run(ip, '%%llm -m sim-large -s "Be terse." --no-cache\nName a colour')
    r = ip.user_ns["_llm"]
    assert r.model == "sim-large"
    body = {"model": "sim-large", "messages": [{"role": "system", "content": "Be terse."},
                                              *user("Name a colour")]}
    assert r.text == expected_answer(body, sim.config)


def test_max_tokens_caps_the_answer(ip, sim):
    run(ip, f"%%llm -m {MODEL} --max-tokens 5\nTOKENS:40 go")
    r = ip.user_ns["_llm"]
    assert r.usage.completion_tokens == 5 and r.finish_reason == "length"


def test_temperature_is_part_of_the_request(ip, sim):
    for t in ("0", "0", "1"):
        assert run(ip, f"%%llm -m {MODEL} -t {t}\nsame prompt")[0].success
    assert requests_seen(sim) == 2  # the repeat at -t 0 was cached; -t 1 is a new request


def test_no_cache_asks_again(ip, sim):
    run(ip, f"%%llm -m {MODEL}\nask once")
    run(ip, f"%%llm -m {MODEL}\nask once")
    assert requests_seen(sim) == 1 and ip.user_ns["_llm"].cached
    run(ip, f"%%llm -m {MODEL} --no-cache\nask once")
    assert requests_seen(sim) == 2 and not ip.user_ns["_llm"].cached


@pytest.mark.parametrize(
    ("fmt", "said", "check"),
    [
        ("text", "plain *text*", lambda out: out.stdout == "plain *text*\n" and not out.outputs),
        ("json", '{{"a": [1, 2]}}',
         lambda out: out.outputs[0].data["application/json"] == {"a": [1, 2]}),
        ("code", "```python\nprint(1)\n```",
         lambda out: out.outputs[0].data["text/plain"] == "print(1)"
         and "<code>print(1)</code>" in out.outputs[0].data["text/html"]),
        ("html", "<b>bold</b><script>x()</script>",
         lambda out: out.outputs[0].data["text/html"] == "<b>bold</b>"),
        ("markdown", "# Title", lambda out: out.outputs[0].data["text/html"] == "<h1>Title</h1>\n"),
    ],
)
def test_each_format_is_displayed_its_own_way(ip, sim, fmt, said, check):
    result, out = run(ip, f"%%llm -m {MODEL} -f {fmt}\nECHO: {said}")
    assert result.success and check(out), (out.stdout, [o.data for o in out.outputs])


def test_json_format_warns_in_one_line_when_the_answer_is_not_json(ip, sim):
    result, out = run(ip, f"%%llm -m {MODEL} -f json\nECHO: not json")
    assert result.success
    assert out.stderr.strip() == "llm: the answer is not valid JSON; shown as text."
    assert out.outputs[0].data["text/plain"] == "not json"


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_script_in_the_answer_never_reaches_the_rendered_html(ip, sim, fmt):
    attack = "Hi <script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3))"
    _, out = run(ip, f"%%llm -m {MODEL} -f {fmt}\nECHO: {attack}")
    assert ip.user_ns["_llm"].text == attack  # the model really said it
    html = out.outputs[0].data["text/html"]
    assert "<script" not in html and "<img" not in html and "onerror" not in html
    assert 'href="javascript' not in html and "Hi" in html


def test_variables_are_interpolated_before_sending(ip, sim):
    ip.user_ns["topic"] = "TCP"
    ip.user_ns["cfg"] = {"k": "v"}
    result, _ = run(ip, f"%%llm -m {MODEL}\nECHO: {{topic}} {{cfg['k']}} {{{{x}}}}")
    assert result.success and ip.user_ns["_llm"].text == "TCP v {x}"


def test_a_dataframe_goes_into_the_prompt_as_a_table(ip, sim):
    import pandas as pd

    ip.user_ns["df"] = pd.DataFrame({"city": ["Oslo", "Lima"]})
    run(ip, f"%%llm -m {MODEL}\nECHO: {{df.head()}}")
    text = ip.user_ns["_llm"].text
    assert "Oslo" in text and "Lima" in text and "|" in text


def test_missing_variable_fails_in_one_line_before_any_request(ip, sim):
    ip.user_ns.pop("nowhere", None)
    result, out = run(ip, f"%%llm -m {MODEL}\nTell me about {{nowhere}}")
    assert not result.success and isinstance(result.error_in_exec, CellError)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("TemplateError: ")
    assert "'nowhere'" in lines[0]
    assert requests_seen(sim) == 0
    assert "_llm" not in ip.user_ns


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("Summarise {lst.clear()}", "clear() is not one of the calls"),
        ("Say {os.environ['OPENAI_API_KEY']}", "'os' is a module"),
        ("Say {env['OPENAI_API_KEY']}", "looks like a secret"),
        ("Say {key}", "contains the configured API key"),
    ],
)
def test_a_template_that_would_act_or_leak_is_refused_before_any_request(ip, sim, cell, says):
    import os

    lst = [1, 2, 3]
    ip.user_ns.update(lst=lst, os=os, env=os.environ, key=API_KEY)
    result, out = run(ip, f"%%llm -m {MODEL}\n{cell}")
    assert not result.success and isinstance(result.error_in_exec, CellError)
    (line,) = out.stdout.strip().splitlines()
    assert line.startswith("TemplateError: ") and says in line
    assert API_KEY not in out.stdout + out.stderr
    assert lst == [1, 2, 3] and ip.user_ns["lst"] is lst
    assert requests_seen(sim) == 0 and "_llm" not in ip.user_ns


def test_server_error_is_one_line_naming_the_error(ip, sim):
    result, out = run(ip, f"%%llm -m {MODEL}\nSTATUS:400 bad request please")
    assert not result.success
    (line,) = out.stdout.strip().splitlines()
    assert line.startswith("InvalidRequestError: ") and "400" in line
    assert "Traceback" not in out.stdout


def test_unknown_model_error_says_what_to_do(ip, sim):
    _, out = run(ip, "%%llm -m no-such-model\nhello")
    (line,) = out.stdout.strip().splitlines()
    assert line.startswith("ModelNotFoundError: ") and "-m" in line


def test_empty_prompt_is_refused_without_a_request(ip, sim):
    result, out = run(ip, "%%llm\n   \n")
    assert not result.success and requests_seen(sim) == 0


def test_bad_out_name_is_a_usage_error(ip, sim):
    result, out = run(ip, f"%%llm -m {MODEL} --out 1bad\nhello")
    assert not result.success and "--out needs a variable name" in out.stdout + out.stderr
    assert requests_seen(sim) == 0


def test_help_lists_every_flag(ip, sim):
    for source in ("%llm --help", "%%llm --help\nignored"):
        result, out = run(ip, source)
        assert result.success
        for flag in ("--model", "--system", "--temperature", "--max-tokens", "--format", "--out",
                     "--chat", "--no-cache"):
            assert flag in out.stdout, (source, flag)
    assert requests_seen(sim) == 0


def test_line_form_without_help_says_how_to_write_the_cell(ip, sim):
    result, out = run(ip, "%llm hello there")
    assert not result.success and "takes its prompt from the cell" in out.stdout + out.stderr


def test_chat_keeps_the_conversation_across_cells(ip, sim, magics):
    run(ip, f'%%llm -m {MODEL} --chat -s "Be brief."\nECHO: first answer')
    run(ip, f"%%llm -m {MODEL} --chat\nSecond question")
    expected_messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "ECHO: first answer"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "Second question"},
    ]
    # The simulator's answer is a function of every message sent: equal means the history went.
    assert ip.user_ns["_llm"].text == expected_answer(
        {"model": MODEL, "messages": expected_messages}, sim.config)
    assert len(magics.chat) == 2 and magics.chat.system == "Be brief."


def test_a_cell_without_chat_does_not_see_or_extend_the_conversation(ip, sim, magics):
    run(ip, f"%%llm -m {MODEL} --chat\nECHO: remembered")
    run(ip, f"%%llm -m {MODEL}\nalone")
    assert ip.user_ns["_llm"].text == answer_for(sim, user("alone"))
    assert len(magics.chat) == 1


def test_a_failed_chat_call_records_nothing(ip, sim, magics):
    run(ip, f"%%llm -m {MODEL} --chat\nSTATUS:400 nope")
    assert len(magics.chat) == 0


def test_llm_chat_show_and_reset(ip, sim, magics):
    run(ip, f"%%llm -m {MODEL} --chat\nECHO: <b>hi</b> there")
    _, out = run(ip, "%llm_chat show")
    shown = out.outputs[0].data
    assert "[assistant] <b>hi</b> there" in shown["text/plain"]
    assert "<b>hi</b>" in shown["text/html"]  # rendered (and sanitised) like any answer
    _, out = run(ip, "%llm_chat reset")
    assert len(magics.chat) == 0 and "cleared" in out.stdout
    assert not run(ip, "%llm_chat forget")[0].success


def test_the_api_key_never_appears_in_output(ip, sim):
    outputs = []
    for source in (f"%%llm -m {MODEL}\nhello", "%%llm -m no-such-model\nhello", "%llm_config"):
        _, out = run(ip, source)
        outputs.append(out.stdout + out.stderr + json.dumps([o.data for o in out.outputs]))
    assert API_KEY not in "".join(outputs)


def test_interrupt_cancels_the_call_in_one_line_and_keeps_the_previous_answer(ip, sim):
    run(ip, f"%%llm -m {MODEL}\nECHO: earlier")
    started = time.monotonic()
    interrupt_when(lambda: sim.stats["in_flight"] > 0)
    result, out = run(ip, f"%%llm -m {MODEL}\nSLEEP:8 slow one")
    assert time.monotonic() - started < 6  # returned before the server would have answered
    assert isinstance(result.error_in_exec, CellError)
    assert out.stdout.strip() == "KeyboardInterrupt: the call was cancelled."
    assert ip.user_ns["_llm"].text == "earlier"


def test_max_cost_refuses_a_cell_that_could_cost_more_and_allows_one_that_fits(ip, sim):
    import llm_magics

    llm_magics.configure(prices={MODEL: (1000.0, 1000.0)})  # $0.001 a token
    result, out = run(ip, f"%%llm -m {MODEL} --max-tokens 100 --max-cost 0.05\nBudget me")
    assert not result.success and isinstance(result.error_in_exec, CellError)
    assert "BudgetExceededError" in str(result.error_in_exec)
    assert requests_seen(sim) == 0
    result, _ = run(ip, f"%%llm -m {MODEL} --max-tokens 100 --max-cost 0.2\nBudget me")
    assert result.success and ip.user_ns["_llm"].cost_usd <= 0.2
    assert requests_seen(sim) == 1
