"""The call log (``core.history``) as tables of strings, for the notebook and the terminal.

    >>> print(as_text(summary_table(summarize(rows, "model"), "model")))   # doctest: +SKIP
    model        calls  errors  cache hits  prompt tok  completion tok  spend
    gpt-4o-mini     12       1         25%       1,204             388  $0.0004
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .cost import format_money

__all__ = ["summary_table", "calls_table", "as_text"]

Table = list[list[str]]
TEXT_CHARS = 80
"""Characters of a prompt or answer shown per call; the DataFrame has all of it."""


def summary_table(groups: list[dict[str, Any]], by: str) -> Table:
    table = [[by, "calls", "errors", "cache hits", "prompt tok", "completion tok", "spend"]]
    for g in groups:
        spend = format_money(g["cost_usd"]) + (f" (+{g['unpriced']} unpriced)"
                                               if g["unpriced"] else "")
        table.append([_shown(g[by]), f"{g['calls']:,}", f"{g['errors']:,}",
                      f"{g['cache_hit_rate']:.0%}", f"{g['prompt_tokens']:,}",
                      f"{g['completion_tokens']:,}", spend])
    if len(groups) > 1:
        table.append(["total", f"{sum(g['calls'] for g in groups):,}",
                      f"{sum(g['errors'] for g in groups):,}",
                      f"{sum(g['cached'] for g in groups) / sum(g['calls'] for g in groups):.0%}",
                      f"{sum(g['prompt_tokens'] for g in groups):,}",
                      f"{sum(g['completion_tokens'] for g in groups):,}",
                      format_money(sum(g["cost_usd"] for g in groups))])
    return table


def calls_table(rows: list[dict[str, Any]]) -> Table:
    """One line per call, with the start of its prompt and answer (``--text``)."""
    table = [["time", "cell", "face", "model", "status", "cost", "prompt", "answer"]]
    for r in rows:
        when = dt.datetime.fromtimestamp(r["ts"]).strftime("%Y-%m-%d %H:%M:%S")
        status = "cached" if r["cached"] else (r["status"] if r["status"] == "ok"
                                               else r["error_kind"] or r["status"])
        table.append([when, _shown(r["cell"]), r["face"] or "", r["model"] or "", status,
                      format_money(0.0 if r["cached"] else r["cost_usd"]),
                      _clip(r["messages"]), _clip(r["answer"])])
    return table


def _shown(value: Any) -> str:
    return "-" if value is None else str(value)


def _clip(text: str | None) -> str:
    if text is None:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= TEXT_CHARS else flat[: TEXT_CHARS - 1] + "…"


def as_text(table: Table) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    numeric = [all(_numeric(row[i]) for row in table[1:]) for i in range(len(widths))]
    lines = []
    for row in table:
        cells = [cell.rjust(w) if num else cell.ljust(w)
                 for cell, w, num in zip(row, widths, numeric, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    return bool(cell) and (cell[0].isdigit() or cell[0] == "$") and " " not in cell
