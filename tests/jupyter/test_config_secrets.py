"""``%llm_config`` never shows a password inside a URL; bad values fail the cell before sending."""

from __future__ import annotations

from jupyter_helpers import run

from llm_magics.core import settings
from llm_magics.jupyter.cell_error import CellError

REDIS = "redis://:hunter2-redis-pass@cache.internal:6379/0"


def test_setting_a_url_with_a_password_never_echoes_it(ip):
    result, out = run(ip, f"%llm_config redis_url={REDIS}")
    assert result.success
    assert "hunter2-redis-pass" not in out.stdout
    assert "redis://:***@cache.internal:6379/0" in out.stdout
    assert settings.resolve().redis_url == REDIS  # masked when shown, intact when used


def test_the_settings_table_masks_url_passwords(ip):
    run(ip, f"%llm_config redis_url={REDIS}")
    result, out = run(ip, "%llm_config")
    data = out.outputs[0].data
    for shown in (data["text/plain"], data["text/html"]):
        assert "hunter2-redis-pass" not in shown
    assert "redis://:***@cache.internal:6379/0" in data["text/plain"]


def test_a_base_url_with_a_password_is_refused_without_echoing_it(ip):
    result, out = run(ip, "%llm_config base_url=http://team:proxy-pass-987@127.0.0.1:9/v1")
    assert isinstance(result.error_in_exec, CellError)
    assert "proxy-pass-987" not in out.stdout and "api_key" in out.stdout


def test_a_typo_in_a_setting_name_suggests_the_closest_one(ip):
    result, out = run(ip, "%llm_config rmp=500")
    assert isinstance(result.error_in_exec, CellError)
    assert "did you mean `rpm`?" in out.stdout
    assert settings.resolve().rpm is None


def test_a_nan_temperature_flag_fails_the_cell_before_sending(ip, sim):
    before = sim.stats["chat_requests"]
    result, out = run(ip, "%%llm -t nan\nName a colour")
    assert isinstance(result.error_in_exec, CellError)
    assert "InvalidRequestError" in out.stdout and "NaN or infinity" in out.stdout
    assert sim.stats["chat_requests"] == before
