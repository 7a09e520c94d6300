"""Model text is untrusted: whatever it says, only safe HTML comes out."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from llm_magics.jupyter.outputs import output_bundle
from llm_magics.jupyter.render import (
    FORMATS,
    markdown_to_html,
    parse_json,
    sanitize_html,
    strip_code_fence,
    to_html,
)

ATTACKS = [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<p onclick="alert(1)">p</p>',
    '<iframe src="https://evil.example"></iframe>',
    '<svg onload="alert(1)"></svg>',
    '<a href="data:text/html;base64,PHNjcmlwdD4=">data</a>',
    "<style>body{display:none}</style>",
    '<form action="https://evil.example"><input name=q></form>',
]


class _Elements(HTMLParser):
    """The tags and attributes a browser would build from the markup (text is inert)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def assert_safe(markup: str) -> None:
    parser = _Elements()
    parser.feed(markup)
    for tag, attrs in parser.found:
        assert tag not in {"script", "style", "img", "iframe", "svg", "form", "input", "object",
                           "embed"}, markup
        for name, value in attrs:
            assert not name.startswith("on"), markup
            if name in ("href", "src"):
                assert (value or "").lower().startswith(("https:", "http:", "mailto:")), markup


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_no_format_lets_an_attack_through(attack, fmt):
    assert_safe(to_html(f"Before {attack} after", fmt))


@pytest.mark.parametrize("attack", ATTACKS)
def test_markdown_bundle_carries_no_raw_markdown_or_unsafe_html(attack):
    bundle = output_bundle(attack, "markdown")
    assert set(bundle) == {"text/plain", "text/html"}
    assert_safe(bundle["text/html"])


def test_formatting_survives_sanitising():
    html = markdown_to_html("# Title\n\n**bold** _it_ `code`\n\n- a\n- b\n\n[ok](https://example.org)")
    for tag in ("<h1>", "<strong>bold</strong>", "<em>it</em>", "<code>code</code>", "<li>a</li>"):
        assert tag in html
    assert 'href="https://example.org"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_markdown_tables_keep_their_alignment_but_no_other_style():
    html = markdown_to_html("| n | name |\n|--:|:--|\n| 1 | a |")
    assert '<th style="text-align:right">n</th>' in html
    assert "<table>" in html
    assert sanitize_html('<td style="text-align:left;background:url(x)">c</td>').count("url(") == 0


def test_relative_links_are_dropped_so_they_cannot_target_the_jupyter_server():
    assert "href" not in sanitize_html('<a href="/api/contents">x</a>')


def test_text_and_code_formats_escape_instead_of_rendering():
    assert "&lt;b&gt;" in to_html("<b>not bold</b>", "text")
    html = to_html("```python\nif a < b: pass\n```", "code")
    assert "<code>if a &lt; b: pass</code>" in html and "```" not in html


def test_code_fence_is_stripped_when_the_model_adds_prose_around_it():
    assert strip_code_fence("Here:\n```sql\nSELECT 1;\n```\nDone.") == "SELECT 1;"
    assert strip_code_fence("no fence") == "no fence"


def test_json_is_parsed_from_a_fence_and_pretty_printed():
    assert parse_json('```json\n{"a": [1, 2]}\n```') == {"a": [1, 2]}
    bundle = output_bundle('{"a": [1, 2]}', "json")
    assert bundle["application/json"] == {"a": [1, 2]}
    assert json.loads(bundle["text/plain"]) == {"a": [1, 2]} and "\n" in bundle["text/plain"]


def test_invalid_json_is_shown_as_text_not_lost():
    bundle = output_bundle('{"a": ', "json")
    assert bundle["text/plain"] == '{"a": ' and "application/json" not in bundle


def test_partial_markdown_renders_while_streaming():
    assert "<code>" in to_html("```python\nprint(1)", "markdown")


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.startswith("<")])
def test_the_safety_check_itself_catches_unsanitised_markup(attack):
    with pytest.raises(AssertionError):
        assert_safe(attack)
