"""The StreamView widget on its own: what it draws, what a click does, what it refuses."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from llm_magics.jupyter.chat import ChatSession
from llm_magics.jupyter.stream_view import StreamView
from llm_magics.jupyter.streaming import LiveStats, format_footer


def test_footer_shows_ttft_speed_tokens_cost_and_state():
    stats = LiveStats("done", ttft_s=0.214, tokens=128, elapsed_s=3.2, cost_usd=0.0012)
    assert format_footer(stats) == "TTFT 0.21 s · 40.0 tok/s · 128 tokens · $0.0012 · done"


def test_footer_before_the_first_token_and_for_tiny_costs():
    assert format_footer(LiveStats()) == "0 tokens · waiting"
    tiny = LiveStats("done", tokens=3, elapsed_s=0.1, cost_usd=0.00001, cached=True)
    assert format_footer(tiny) == "30.0 tok/s · 3 tokens · <$0.0001 · cached · done"
    failed = LiveStats("error", tokens=2, message="ServerError: boom")
    assert format_footer(failed).endswith("error: ServerError: boom")


def test_show_renders_sanitised_html_and_keeps_the_raw_text():
    view = StreamView()
    view.show("**hi** <script>x()</script>", LiveStats("streaming", tokens=2))
    assert view.value == "**hi** <script>x()</script>"
    assert view._body.value == "<p><strong>hi</strong> </p>\n"
    assert not view.stop_button.disabled and view.status == "streaming"
    view.show(view.value, LiveStats("done", tokens=2))
    assert view.stop_button.disabled and "done" in view._footer.value


def test_stop_click_calls_back_once_and_disables_the_button():
    calls = []
    view = StreamView(on_stop=lambda: calls.append(1))
    view.stop_button.click()
    view.stop_button.click()  # a disabled button in the browser sends nothing; here: harmless
    assert calls and view.stop_button.disabled


def test_format_is_validated_and_repr_stays_cheap():
    with pytest.raises(TraitError):
        StreamView(fmt="pdf")
    view = StreamView(fmt="text")
    view.show("x" * 100_000, LiveStats("streaming", tokens=1))
    assert repr(view) == "StreamView(status='streaming', chars=100000)"
    assert view._body.value.startswith("<pre")


def test_chat_session_builds_messages_in_order():
    chat = ChatSession(system="Be brief.")
    chat.record("q1", "a1")
    messages = chat.messages_for("q2")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "q2" and len(chat) == 1
    assert chat.messages_for("q3", system="Other.")[0]["content"] == "Other."
    chat.reset()
    assert chat.messages_for("q") == [{"role": "user", "content": "q"}] and chat.system is None
