"""Secrets stay out of what is shown: API keys in messages, passwords inside URLs."""

from __future__ import annotations

import json

import pytest
from recording_server import RecordingServer

import llm_magics
from llm_magics import errors
from llm_magics.core.secrets import mask_url, mask_urls, redact
from llm_magics.core.settings import resolve
from tests.support.sim import Simulator

LONG_KEY = "sk-proj-Abc123-0123456789xyz"


def test_a_short_key_is_never_cut_out_of_words():
    message = "https://sim does not know model 'm' (404). Pick another with model=..."
    assert redact(message, "k") == message
    assert redact(message, "no-key") == message


def test_a_long_key_is_masked_where_it_stands_as_a_token():
    assert redact(f"Incorrect API key provided: {LONG_KEY}.", LONG_KEY) == (
        "Incorrect API key provided: ***.")
    assert redact(f"Bearer {LONG_KEY}", LONG_KEY) == "Bearer ***"
    assert redact(f'{{"key":"{LONG_KEY}"}}', LONG_KEY) == '{"key":"***"}'


@pytest.mark.parametrize("url, shown", [
    ("redis://:hunter2@db:6380/1", "redis://:***@db:6380/1"),
    ("redis://user:hunter2@db/0", "redis://user:***@db/0"),
    ("redis://:p@ss@db/0", "redis://:***@db/0"),  # an unencoded @ in the password
    ("http://127.0.0.1:6379/0", "http://127.0.0.1:6379/0"),
    ("http://host:8080/path@x", "http://host:8080/path@x"),  # an @ in the path is not userinfo
])
def test_mask_url(url, shown):
    assert mask_url(url) == shown


def test_every_url_in_a_text_is_masked():
    text = "tried http://a:pw1@one/v1 then https://b:pw2@two:443/v1, gave up"
    assert mask_urls(text) == "tried http://a:***@one/v1 then https://b:***@two:443/v1, gave up"


def test_settings_repr_and_public_dict_mask_url_passwords():
    s = resolve(redis_url="redis://:hunter2-pass@db:6379/0", api_key=LONG_KEY)
    for shown in (repr(s), str(s), json.dumps(s.public_dict(), default=str)):
        assert "hunter2-pass" not in shown and LONG_KEY not in shown
    assert s.public_dict()["redis_url"] == "redis://:***@db:6379/0"
    assert s.redis_url == "redis://:hunter2-pass@db:6379/0"  # the real value is still used


@pytest.mark.usefixtures("request_path")
def test_a_short_key_leaves_a_404_message_readable():
    with Simulator() as sim:
        with pytest.raises(errors.ModelNotFoundError) as info:
            llm_magics.complete("hi", base_url=sim.base_url, api_key="k",
                                model="no-such-model", cache=False)
    message = str(info.value)
    assert "does not know model 'no-such-model'" in message
    assert "Pick another with model=" in message and "***" not in message


@pytest.mark.usefixtures("request_path")
def test_a_key_the_server_echoes_back_is_masked():
    def echo_key(body, headers):
        key = headers["authorization"].removeprefix("Bearer ")
        detail = {"error": {"message": f"Key {key} has no access to this project."}}
        return 400, {"Content-Type": "application/json"}, json.dumps(detail).encode()

    with RecordingServer(echo_key) as server:
        with pytest.raises(errors.InvalidRequestError) as info:
            llm_magics.complete("hi", base_url=server.base_url, api_key=LONG_KEY, cache=False)
    assert LONG_KEY not in str(info.value) and LONG_KEY not in repr(info.value)
    assert "Key *** has no access" in str(info.value)


def test_a_password_in_the_base_url_is_refused_without_echoing_it():
    with pytest.raises(errors.ConfigurationError, match="api_key") as info:
        llm_magics.complete("hi", base_url="http://me:url-secret-pass@127.0.0.1:9/v1",
                            api_key=LONG_KEY, cache=False)
    assert "url-secret-pass" not in str(info.value)


@pytest.mark.usefixtures("request_path")
def test_a_password_in_a_url_the_server_mentions_is_masked():
    def mention_url(body, headers):
        detail = {"error": {"message": "Upstream redis://:upstream-pass@10.0.0.5:6379 is down."}}
        return 400, {"Content-Type": "application/json"}, json.dumps(detail).encode()

    with RecordingServer(mention_url) as server:
        with pytest.raises(errors.InvalidRequestError) as info:
            llm_magics.complete("hi", base_url=server.base_url, api_key=LONG_KEY, cache=False)
    assert "upstream-pass" not in str(info.value)
    assert "redis://:***@10.0.0.5:6379" in str(info.value)
