import pytest

from llm_magics import errors
from llm_magics.core import settings as s


def test_call_args_beat_configure_beat_env_beat_defaults(monkeypatch):
    assert s.resolve().concurrency == 32
    monkeypatch.setenv("LLM_MAGICS_CONCURRENCY", "8")
    assert s.resolve().concurrency == 8
    s.configure(concurrency=16)
    assert s.resolve().concurrency == 16
    assert s.resolve(concurrency=4).concurrency == 4


def test_openai_env_names_are_read(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123456")
    got = s.resolve()
    assert got.base_url == "http://127.0.0.1:9/v1"
    assert got.key_value() == "sk-secret-value-123456"


def test_key_is_masked_everywhere_it_can_be_shown():
    got = s.resolve(api_key="sk-secret-value-123456")
    assert "secret-value" not in repr(got)
    assert "secret-value" not in str(got.public_dict())
    assert got.public_dict()["api_key"] == "sk-...3456"


def test_unknown_setting_names_the_known_ones():
    with pytest.raises(errors.ConfigurationError, match="Known settings"):
        s.configure(rmp=5)


def test_invalid_value_is_a_configuration_error():
    with pytest.raises(errors.ConfigurationError, match="rpm"):
        s.resolve(rpm=-1)


def test_configure_none_removes_an_earlier_value():
    s.configure(rpm=100)
    assert s.resolve().rpm == 100
    s.configure(rpm=None)
    assert s.resolve().rpm is None
