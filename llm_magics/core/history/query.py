"""Reading the call log back: time bounds as people write them, rows, and summaries.

    >>> parse_time("1h") < time.time()                            # doctest: +SKIP
    True
    >>> summarize(rows_as_dicts(since="1d"), by="model")          # doctest: +SKIP
    [{'model': 'gpt-4o-mini', 'calls': 12, 'errors': 0, 'cached': 3, ...}]

No pandas here: the DataFrame is the pandas face's (``llm_magics.history()``),
the tables are the notebook's (``%llm_history``) and the terminal's.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...errors import InvalidRequestError
from ..settings import resolve
from .log import COLUMNS, get_call_log

__all__ = ["GROUPS", "NAMES", "parse_time", "read_rows", "rows_as_dicts", "summarize"]

NAMES: tuple[str, ...] = ("id", *(name for name, _ in COLUMNS))
"""The fields of a row as read back, in order."""

GROUPS = ("cell", "model", "day", "mode", "face")
_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: Any, *, what: str = "since") -> float | None:
    """Seconds since the epoch from ``None``, a number (epoch seconds), a ``datetime``, an
    ISO date or time (``"2026-01-31"``), or a span ago (``"30m"``, ``"1h"``, ``"7d"``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        pass
    elif isinstance(value, (int, float)):
        return float(value)
    elif isinstance(value, dt.datetime):
        return value.timestamp()  # a naive datetime is local time, as Python reads it
    elif isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time()).timestamp()
    elif isinstance(value, str):
        if (ago := _AGO.match(value)) is not None:
            return time.time() - float(ago[1]) * _UNIT_S[ago[2]]
        try:
            return dt.datetime.fromisoformat(value.strip()).timestamp()
        except ValueError:
            pass
    raise InvalidRequestError(
        f"{what}={value!r} is not a time: use a span ago such as '30m', '1h' or '7d', an ISO "
        "date or time such as '2026-01-31' or '2026-01-31T09:00', a datetime, or seconds "
        "since the epoch.")


def read_rows(*, since: Any = None, until: Any = None, model: str | None = None,
              limit: int | None = None, client: str | None = None,
              path: Path | str | None = None) -> list[tuple[Any, ...]]:
    """Rows of the call log (fields ``NAMES``), oldest first; ``limit`` keeps the newest."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise InvalidRequestError(f"limit={limit!r}: pass a whole number >= 1, or None.")
    call_log = get_call_log(path if path is not None else resolve().history_path)
    return call_log.rows(since=parse_time(since), until=parse_time(until, what="until"),
                         model=model, client=client, limit=limit)


def rows_as_dicts(**query: Any) -> list[dict[str, Any]]:
    return [dict(zip(NAMES, row, strict=True)) for row in read_rows(**query)]


def _group_key(row: dict[str, Any], by: str) -> Any:
    if by == "day":
        return dt.datetime.fromtimestamp(row["ts"]).date().isoformat()
    return row[by]


def summarize(rows: Iterable[dict[str, Any]], by: str = "model") -> list[dict[str, Any]]:
    """Spend, tokens, calls, errors and cache hit rate per ``by`` (cell, model, day, mode, face).

    Spend and tokens count what was paid for: an answer from the cache is a call
    (and a hit) but costs nothing. ``cost_usd`` adds up the calls with a known
    price; ``unpriced`` counts the others (a model without a price is not free).
    """
    if by not in GROUPS:
        raise InvalidRequestError(f"by={by!r}: group by one of {', '.join(GROUPS)}.")
    groups: dict[Any, dict[str, Any]] = {}
    for row in rows:
        key = _group_key(row, by)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {by: key, "calls": 0, "errors": 0, "cached": 0, "cost_usd": 0.0,
                               "unpriced": 0, "prompt_tokens": 0, "completion_tokens": 0}
        g["calls"] += 1
        g["errors"] += row["status"] != "ok"
        if row["cached"]:  # free: its tokens and cost are the original call's
            g["cached"] += 1
            continue
        g["prompt_tokens"] += row["prompt_tokens"] or 0
        g["completion_tokens"] += row["completion_tokens"] or 0
        if row["cost_usd"] is not None:
            g["cost_usd"] += row["cost_usd"]
        elif row["status"] == "ok":
            g["unpriced"] += 1
    out = sorted(groups.values(), key=lambda g: (g[by] is None, str(g[by]) if by != "cell"
                                                 else (g[by] or 0)))
    for g in out:
        g["cache_hit_rate"] = g["cached"] / g["calls"]
    return out
