"""Cut a job's lines into batches that fit the server's limits, keeping their order.

A batch input file may hold at most ``MAX_REQUESTS_PER_BATCH`` lines and
``MAX_BYTES_PER_BATCH`` bytes; a job over either limit becomes several
batches of consecutive lines. Results are matched back by ``custom_id``, so
the cut never changes the order of the results.

    >>> split_sizes([10, 10, 10, 10, 10], max_requests=2, max_bytes=10**6)
    [range(0, 2), range(2, 4), range(4, 5)]
    >>> split_sizes([6, 6, 6], max_requests=100, max_bytes=14)   # 7 bytes a line with "\\n"
    [range(0, 2), range(2, 3)]
"""

from __future__ import annotations

from collections.abc import Sequence

from .constants import MAX_BYTES_PER_BATCH, MAX_REQUESTS_PER_BATCH

__all__ = ["split_sizes", "fits"]


def fits(size: int, max_bytes: int = MAX_BYTES_PER_BATCH) -> bool:
    """Whether one line of ``size`` bytes (plus its newline) fits in a batch file at all."""
    return size + 1 <= max_bytes


def split_sizes(
    sizes: Sequence[int],
    *,
    max_requests: int = MAX_REQUESTS_PER_BATCH,
    max_bytes: int = MAX_BYTES_PER_BATCH,
) -> list[range]:
    """Ranges of consecutive line indexes, each within both limits.

    ``sizes`` are the encoded lengths of the lines without their newline; each
    must ``fit`` on its own (the caller turns one that does not into an error).
    """
    if max_requests < 1 or max_bytes < 2:
        raise ValueError("max_requests must be >= 1 and max_bytes >= 2")
    parts: list[range] = []
    start = 0
    count = 0
    used = 0
    for i, size in enumerate(sizes):
        need = size + 1
        if need > max_bytes:
            raise ValueError(f"line {i} is {size:,} bytes, more than a batch file may hold")
        if count and (count == max_requests or used + need > max_bytes):
            parts.append(range(start, i))
            start, count, used = i, 0, 0
        count += 1
        used += need
    if count:
        parts.append(range(start, len(sizes)))
    return parts
