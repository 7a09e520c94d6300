"""``%llm_config`` and IPython config both write the core settings layer; the key stays masked."""

from __future__ import annotations

import pytest
from jupyter_helpers import API_KEY, run
from traitlets.config import Config

from llm_magics.core import settings
from llm_magics.jupyter.cell_error import CellError
from llm_magics.jupyter.llm_config import parse_assignments
from llm_magics.jupyter.magics import LLMMagics


def shown_settings(ip) -> dict[str, tuple[str, str]]:
    result, out = run(ip, "%llm_config")
    assert result.success
    rows = {}
    for line in out.outputs[0].data["text/plain"].splitlines():
        name, value, source = line.split(maxsplit=1)[0], *line.split(maxsplit=1)[1].rsplit(" ", 1)
        rows[name] = (value.strip(), source.strip("()"))
    return rows


def test_show_lists_every_setting_with_its_source_and_masks_the_key(ip, sim):
    result, out = run(ip, "%llm_config")
    data = out.outputs[0].data
    assert API_KEY not in data["text/plain"] and API_KEY not in data["text/html"]
    rows = shown_settings(ip)
    assert set(rows) == set(settings.FIELDS)
    assert rows["api_key"] == ("sk-...3456", "configured")
    assert rows["base_url"] == (sim.base_url, "configured")
    assert rows["rpm"] == ("-", "default")
    assert "<table>" in data["text/html"]


def test_environment_values_are_labelled_as_such(ip, monkeypatch):
    monkeypatch.setenv("LLM_MAGICS_TPM", "9000")
    assert shown_settings(ip)["tpm"] == ("9000", "environment")


def test_set_values_reach_the_core_and_the_confirmation_masks_the_key(ip):
    result, out = run(ip, '%llm_config model=gpt-4o-mini rpm=500 api_key=sk-live-abcdef123456 '
                          'cache=false system_x=1')
    assert isinstance(result.error_in_exec, CellError)  # an unknown name fails the whole line
    assert out.stdout.startswith("ConfigurationError: Unknown setting(s) ['system_x']")
    assert settings.resolve().model is None

    result, out = run(ip, "%llm_config model=gpt-4o-mini rpm=500 api_key=sk-live-abcdef123456 "
                          "cache=false")
    assert result.success
    resolved = settings.resolve()
    assert (resolved.model, resolved.rpm, resolved.cache) == ("gpt-4o-mini", 500, False)
    assert resolved.key_value() == "sk-live-abcdef123456"
    assert "sk-live-abcdef123456" not in out.stdout and "sk-...3456" in out.stdout


def test_quoted_values_and_unsetting(ip):
    run(ip, '%llm_config model="my model" rpm=60')
    assert settings.resolve().model == "my model"
    run(ip, "%llm_config rpm=none")
    assert settings.resolve().rpm is None and settings.resolve().model == "my model"


def test_invalid_value_is_one_line_and_changes_nothing(ip):
    result, out = run(ip, "%llm_config rpm=lots")
    assert isinstance(result.error_in_exec, CellError)
    (line,) = out.stdout.strip().splitlines()
    assert line.startswith("ConfigurationError: Invalid setting: rpm")
    assert settings.resolve().rpm is None


def test_reset_forgets_session_settings_but_keeps_ipython_config(ip, magics):
    magics.rpm = 123  # as if from c.LLMMagics.rpm in a profile
    run(ip, "%llm_config model=gpt-4o")
    result, out = run(ip, "%llm_config --reset")
    assert result.success and "reset" in out.stdout
    resolved = settings.resolve()
    assert resolved.model is None and resolved.base_url is None and resolved.rpm == 123
    magics.rpm = None
    assert settings.resolve().rpm is None


def test_assignment_parser_rejects_words_without_a_value():
    assert parse_assignments(["a=1", "b=", "c=NONE", "url=http://x/?q=1"]) == {
        "a": "1", "b": None, "c": None, "url": "http://x/?q=1"}
    with pytest.raises(Exception, match="Expected name=value"):
        parse_assignments(["model"])


def test_ipython_config_is_applied_when_the_magics_are_created(shell):
    config = Config()
    config.LLMMagics.model = "from-profile"
    config.LLMMagics.rpm = 42
    config.LLMMagics.cache = False
    config.LLMMagics.widgets = "never"
    magics = LLMMagics(shell=shell, config=config)
    try:
        resolved = settings.resolve()
        assert (resolved.model, resolved.rpm, resolved.cache) == ("from-profile", 42, False)
        assert not magics.widgets_enabled()
    finally:
        shell.configurables.remove(magics)


def test_percent_config_changes_settings_live(ip):
    result, _ = run(ip, "%config LLMMagics.tpm = 7000")
    assert result.success and settings.resolve().tpm == 7000
    run(ip, "%config LLMMagics.tpm = None")
    assert settings.resolve().tpm is None


def test_help(ip):
    result, out = run(ip, "%llm_config --help")
    assert result.success and "--reset" in out.stdout and "name=value" in out.stdout
