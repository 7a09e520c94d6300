"""``mkdocs build --strict`` succeeds: no broken link, no missing nav page, no stale page.

The reference pages are generated during the build by ``llm_magics.docgen`` (a
mkdocs hook), so this also checks that they build from the current code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


def test_site_has_every_page(site: Path) -> None:
    for page in ("index.html", "guides/choosing/index.html", "guides/sync/index.html",
                 "guides/async/index.html", "guides/streaming/index.html",
                 "guides/batch/index.html", "guides/queue/index.html",
                 "local-model/index.html", "simulator-gateway/index.html",
                 "troubleshooting/index.html", "comparison/index.html",
                 "benchmarks/index.html"):
        assert (site / page).is_file(), page


def test_configuration_reference_lists_every_setting_with_its_env_var(site: Path) -> None:
    from llm_magics.core.settings import Settings

    html = (site / "reference/configuration/index.html").read_text()
    for name, field in Settings.model_fields.items():
        assert f"LLM_MAGICS_{name.upper()}" in html, name
        assert field.description.split("(")[0].strip()[:30] in html, name
    assert "OPENAI_API_KEY" in html and "OPENAI_BASE_URL" in html


def test_magics_reference_is_the_real_help_text(site: Path) -> None:
    html = (site / "reference/magics/index.html").read_text()
    for flag in ("--max-tokens", "--no-widget", "--reset", "--poll", "--template", "--chat"):
        assert flag in html, flag
    for magic in ("%%llm_stream", "%llm_config", "%llm_batch", "%llm_chat"):
        assert magic in html, magic


def test_accessor_and_api_references_come_from_the_docstrings(site: Path) -> None:
    import llm_magics
    from llm_magics.pandas.accessor import LLMDataFrameAccessor

    html = (site / "reference/accessor/index.html").read_text()
    assert "errors=&quot;coerce&quot;" in html or 'errors="coerce"' in html
    assert "df.llm.estimate" in html and "last_errors" in html
    api = (site / "reference/python-api/index.html").read_text()
    for name in ("llm_magics.complete", "llm_magics.stream", "llm_magics.map", "batch.submit",
                 "queue.map"):
        assert name in api, name
    assert LLMDataFrameAccessor.__doc__ and llm_magics.complete.__doc__
