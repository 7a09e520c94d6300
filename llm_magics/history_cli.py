"""``llm-magics history``: spend, tokens, calls, errors and cache hits from the call log.

    llm-magics history --since 1d --by model      # a summary table
    llm-magics history --text --limit 20          # the last calls, with their text
    llm-magics history --json                     # the rows, one JSON object a line
"""

from __future__ import annotations

import argparse
import json
import sys

from .core.history.query import GROUPS, rows_as_dicts, summarize
from .core.spend_table import as_text, calls_table, summary_table
from .errors import LLMError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-magics history", description=__doc__.split("\n")[0])
    parser.add_argument("--since", help="a span ago (30m, 1h, 7d) or an ISO date/time")
    parser.add_argument("--until", help="same forms as --since")
    parser.add_argument("--model", help="only calls to this model")
    parser.add_argument("--by", choices=GROUPS, default="model", help="group the summary by")
    parser.add_argument("--limit", type=int, help="only the newest N calls")
    parser.add_argument("--text", action="store_true",
                        help="list the calls with their prompt and answer instead of a summary")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON lines")
    parser.add_argument("--path", help="call-log file (default: the history_path setting)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        rows = rows_as_dicts(since=args.since, until=args.until, model=args.model,
                             limit=args.limit, path=args.path)
        if args.json:
            for row in rows:
                print(json.dumps(row, ensure_ascii=False))
            return 0
        if not rows:
            print("No calls recorded" + (f" since {args.since}." if args.since else "."))
            return 0
        table = calls_table(rows) if args.text else summary_table(summarize(rows, args.by),
                                                                   args.by)
    except LLMError as err:
        print(f"llm-magics history: {err}", file=sys.stderr)
        return 2
    print(as_text(table))
    return 0
