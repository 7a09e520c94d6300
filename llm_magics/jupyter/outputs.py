"""What ``%%llm`` displays for an answer, per ``--format``: one MIME bundle, always sanitised.

Every bundle carries ``text/plain`` (the answer itself) so a terminal, an
nbconvert export or a test sees the text; rich front ends pick the HTML,
which went through :func:`~llm_magics.jupyter.render.sanitize_html`. No bundle
carries raw ``text/markdown``: front ends render it with raw HTML allowed.

    >>> output_bundle("**hi**", "markdown")["text/html"]
    '<p><strong>hi</strong></p>\\n'
"""

from __future__ import annotations

import json
from typing import Any

from .render import parse_json, strip_code_fence, to_html

__all__ = ["output_bundle", "is_json"]


def is_json(text: str) -> bool:
    try:
        parse_json(text)
    except ValueError:
        return False
    return True


def output_bundle(text: str, fmt: str) -> dict[str, Any]:
    """The MIME bundle for ``text`` shown as ``fmt`` (markdown, text, json, code, html)."""
    if fmt == "text":
        return {"text/plain": text}
    if fmt == "json":
        try:
            value = parse_json(text)
        except ValueError:
            return {"text/plain": text, "text/html": to_html(text, "text")}
        pretty = json.dumps(value, indent=2, ensure_ascii=False)
        bundle: dict[str, Any] = {"text/plain": pretty, "text/html": to_html(pretty, "text")}
        if isinstance(value, (dict, list)):  # the JSON viewer takes containers only
            bundle["application/json"] = value
        return bundle
    if fmt == "code":
        return {"text/plain": strip_code_fence(text), "text/html": to_html(text, "code")}
    return {"text/plain": text, "text/html": to_html(text, fmt)}
