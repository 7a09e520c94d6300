"""``llm-magics bench``: the benchmark suite, kept in ``benchmarks/`` of a source checkout."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (root / "benchmarks" / "__main__.py").is_file():
            sys.path.insert(0, str(root))
            from benchmarks.__main__ import main as run

            return int(run(argv) or 0)
    print("llm-magics bench needs a source checkout of llm-magics (the benchmarks/ folder); "
          "run it from the repository root.", file=sys.stderr)
    return 2
