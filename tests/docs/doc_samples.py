"""Extract the code samples of the docs and the README, so tests can run every one.

Conventions (also stated in docs/README for writers):

- ```` ```python ```` and ```` ```ipython ```` blocks are run, in page order, in one
  IPython shell per page (a page reads like one notebook). A block is split into
  cells at blank lines; a chunk starting with ``%%`` (a cell magic) is a cell of
  its own, the other chunks are merged. So a block can show several cells.
- ``http://127.0.0.1:8000`` (what ``llm-magics sim --port 8000`` serves) is
  replaced by the test simulator's URL, ``http://127.0.0.1:8787`` (``llm-magics
  serve --port 8787``) by a test gateway's in front of it.
- A runnable block preceded by ``<!-- not-run: reason -->`` is skipped; keep
  these few (the tests cap them).
- ```` ```bash ```` blocks are checked, not run: every ``llm-magics`` /
  ``python -m llm_magics...`` command must exist and accept its ``--flags``, and
  every ``pip install`` extra must exist in pyproject.toml.
- Other languages (``text``, ``pycon``) are output or illustration, not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
RUNNABLE = ("python", "ipython")
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<reason>\S.*?)\s*-->")
SIM_PLACEHOLDER = "http://127.0.0.1:8000"
GATEWAY_PLACEHOLDER = "http://127.0.0.1:8787"
OTHERS_PAGES = ("benchmarks.md",)  # written by other people; not ours to run


@dataclass(frozen=True)
class Sample:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    source: str
    not_run: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    def cells(self) -> list[str]:
        """The block as notebook cells: a ``%%`` chunk alone, other chunks merged."""
        chunks = [c.strip("\n") for c in re.split(r"\n\s*\n", self.source) if c.strip()]
        cells: list[str] = []
        plain: list[str] = []
        for chunk in chunks:
            if chunk.lstrip().startswith("%%"):
                if plain:
                    cells.append("\n\n".join(plain))
                    plain = []
                cells.append(chunk)
            else:
                plain.append(chunk)
        if plain:
            cells.append("\n\n".join(plain))
        return cells


def doc_files() -> list[Path]:
    pages = sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).as_posix()
                   not in OTHERS_PAGES)
    return [REPO / "README.md", *pages]


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<lang>[\w+-]*)[^\n]*$")


def samples(path: Path) -> list[Sample]:
    """Every fenced block of ``path`` (any language), in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Sample] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i][indent:])
            i += 1
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = NOT_RUN.search(prev)
        out.append(Sample(path, start + 1, m["lang"].lower(), "\n".join(body) + "\n",
                          marker["reason"] if marker else None))
        i += 1
    return out


def runnable(path: Path) -> list[Sample]:
    return [s for s in samples(path) if s.lang in RUNNABLE]
