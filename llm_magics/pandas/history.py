"""``llm_magics.history()``: the call log as a typed DataFrame, newest last.

    >>> df = llm_magics.history(since="1d")                         # doctest: +SKIP
    >>> df.groupby("model")["cost_usd"].sum()                       # doctest: +SKIP
    >>> df.loc[df.status == "error", ["ts", "model", "error_kind"]]  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..core.history.query import NAMES, read_rows

__all__ = ["history", "DTYPES"]

DTYPES: dict[str, str] = {
    "id": "int64", "face": "string", "mode": "string", "model": "string", "host": "string",
    "status": "string", "error_kind": "string", "prompt_tokens": "Int64",
    "completion_tokens": "Int64", "cost_usd": "Float64", "latency_s": "Float64",
    "ttft_s": "Float64", "retries": "Int64", "cached": "bool", "finish_reason": "string",
    "cell": "Int64", "job_id": "string", "client": "string", "messages": "string",
    "answer": "string",
}
"""Column types; ``ts`` is a UTC timestamp. Nullable types: a failed call has no tokens."""


def history(since: Any = None, until: Any = None, model: str | None = None,
            limit: int | None = None, *, path: str | Path | None = None) -> pd.DataFrame:
    """Every recorded call, one row each, oldest first (``limit`` keeps the newest).

    ``since``/``until``: a span ago (``"1h"``, ``"7d"``), an ISO date or time, a
    ``datetime`` or epoch seconds. ``path``: another call-log file (default: the
    ``history_path`` setting). ``cached`` rows cost nothing: their tokens and cost
    are the original call's.
    """
    rows = read_rows(since=since, until=until, model=model, limit=limit, path=path)
    frame = pd.DataFrame.from_records(rows, columns=list(NAMES))
    frame["ts"] = pd.to_datetime(frame["ts"].astype("float64"), unit="s", utc=True)
    return frame.astype(DTYPES)
