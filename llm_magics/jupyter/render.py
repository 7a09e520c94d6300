"""Model text to safe HTML: markdown-it renders, nh3 sanitises, nothing else reaches a page.

Model output is untrusted: a prompt-injected answer can carry ``<script>``,
``<img onerror=...>`` or ``javascript:`` links, and notebook outputs made in
the session are trusted by the front end. So every HTML string this package
shows goes through :func:`sanitize_html` last. Images are dropped too: an
image URL is fetched without a click, which lets injected text leak data into
a query string. Relative URLs are dropped so a link cannot aim at the Jupyter
server's own API.

    >>> to_html("**hi** <script>alert(1)</script>", "markdown")
    '<p><strong>hi</strong> </p>\\n'
"""

from __future__ import annotations

import functools
import html
import json
import re
from typing import Any, Literal

__all__ = [
    "Format",
    "FORMATS",
    "sanitize_html",
    "markdown_to_html",
    "to_html",
    "strip_code_fence",
    "parse_json",
]

Format = Literal["markdown", "text", "json", "code", "html"]
FORMATS: tuple[str, ...] = ("markdown", "text", "json", "code", "html")

_FENCE = re.compile(r"^\s*```[\w+.-]*[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)
_FIRST_FENCE = re.compile(r"```[\w+.-]*[ \t]*\n(.*?)(?:\n```|\Z)", re.DOTALL)
_PRE = '<pre style="white-space:pre-wrap;margin:0">{}</pre>'


@functools.lru_cache(maxsize=1)
def _cleaner_options() -> dict[str, Any]:
    import nh3

    tags = set(nh3.ALLOWED_TAGS) - {"img", "area", "map"}
    attributes = {k: set(v) for k, v in nh3.ALLOWED_ATTRIBUTES.items() if k in tags}
    for cell in ("td", "th"):  # markdown tables align columns with style="text-align:..."
        attributes.setdefault(cell, set()).add("style")
    return {
        "tags": tags,
        "attributes": attributes,
        "url_schemes": {"http", "https", "mailto"},
        "url_relative": "deny",
        "filter_style_properties": {"text-align"},
        "set_tag_attribute_values": {"a": {"target": "_blank"}},
        "link_rel": "noopener noreferrer nofollow",
    }


def sanitize_html(markup: str) -> str:
    """Keep formatting tags; drop scripts, event handlers, styles, images, unsafe URLs."""
    import nh3

    return nh3.clean(markup, **_cleaner_options())


@functools.lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # Raw HTML is parsed (models emit <br>, <details>) and then sanitised, not escaped.
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def markdown_to_html(text: str) -> str:
    """Markdown (GitHub-style tables included) to sanitised HTML."""
    return sanitize_html(_markdown().render(text))


def strip_code_fence(text: str) -> str:
    """The code inside a model's ```lang fence; the text itself when there is none."""
    match = _FENCE.match(text) or _FIRST_FENCE.search(text)
    return match.group(1) if match else text


def parse_json(text: str) -> Any:
    """Parse JSON the way models write it (often inside a ```json fence); raises ValueError."""
    return json.loads(strip_code_fence(text).strip())


def to_html(text: str, fmt: str = "markdown") -> str:
    """Safe HTML for ``text`` shown as ``fmt`` (one of :data:`FORMATS`).

    Partial text is fine: the stream view calls this on the text so far.
    """
    if fmt == "markdown":
        return markdown_to_html(text)
    if fmt == "html":
        return sanitize_html(text)
    if fmt == "code":
        return _PRE.format(f"<code>{html.escape(strip_code_fence(text))}</code>")
    if fmt == "json":
        try:
            text = json.dumps(parse_json(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass  # incomplete (still streaming) or not JSON: show it as it is
    return _PRE.format(html.escape(text))
