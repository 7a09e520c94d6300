"""``%llm_history``: what this notebook's calls cost, from the call log.

    %llm_history                      # spend, tokens, calls, errors, cache hits per model
    %llm_history --since 1h --by cell
    %llm_history --text               # the last calls with their prompt and answer

The table is HTML in the notebook and aligned text elsewhere; the numbers are
``llm_magics.history()``'s, summed.
"""

from __future__ import annotations

import html
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ..core.history.query import GROUPS, rows_as_dicts, summarize
from ..core.spend_table import as_text, calls_table, summary_table
from ..errors import LLMError

__all__ = ["llm_history", "HistoryTable"]

TEXT_CALLS = 20
"""Calls ``--text`` lists unless ``--limit`` says otherwise."""


class HistoryTable:
    """A table of strings that shows as HTML in a notebook and as text elsewhere."""

    def __init__(self, table: list[list[str]], title: str) -> None:
        self.table, self.title = table, title

    def _repr_html_(self) -> str:
        head, *body = self.table
        cells = "".join(f"<th>{html.escape(c)}</th>" for c in head)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in body)
        return (f"<div><b>{html.escape(self.title)}</b><table><thead><tr>{cells}</tr></thead>"
                f"<tbody>{rows}</tbody></table></div>")

    def __repr__(self) -> str:
        return f"{self.title}\n{as_text(self.table)}"


@magic_arguments()
@argument("--since", help="a span ago (30m, 1h, 7d) or an ISO date/time")
@argument("--until", help="same forms as --since")
@argument("--model", help="only calls to this model")
@argument("--by", choices=GROUPS, default="model", help="group the summary by")
@argument("--limit", type=int, help="only the newest N calls")
@argument("--text", action="store_true", help="list the calls with their text")
@argument("-h", "--help", action="store_true", help="Show this help.")
def llm_history(line: str) -> Any:
    """Spend, tokens, calls, errors and cache hits from the call log.

    %llm_history                      a row per model
    %llm_history --since 1h --by cell what each cell of the last hour cost
    %llm_history --text               the last calls with their prompt and answer
    """
    args = parse_argstring(llm_history, line)
    if args.help:
        print(llm_history.__doc__)
        return None
    limit = args.limit or (TEXT_CALLS if args.text else None)
    try:
        rows = rows_as_dicts(since=args.since, until=args.until, model=args.model, limit=limit)
    except LLMError as err:
        raise UsageError(str(err)) from None
    span = f" since {args.since}" if args.since else ""
    if not rows:
        print(f"No calls recorded{span}.")
        return None
    if args.text:
        display(HistoryTable(calls_table(rows), f"The last {len(rows)} calls{span}"))
    else:
        display(HistoryTable(summary_table(summarize(rows, args.by), args.by),
                             f"{len(rows):,} calls{span}, by {args.by}"))
    return None
