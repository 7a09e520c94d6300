"""Cutting a job into batches within the count and size limits, in order."""

from __future__ import annotations

import pytest

from llm_magics.core.batch.constants import MAX_BYTES_PER_BATCH, MAX_REQUESTS_PER_BATCH
from llm_magics.core.batch.poll import poll_delays
from llm_magics.core.batch.split import fits, split_sizes


def test_the_limits_are_openais():
    assert MAX_REQUESTS_PER_BATCH == 50_000
    assert MAX_BYTES_PER_BATCH == 200 * 1024 * 1024


def test_50_001_lines_become_two_batches_at_the_real_limit():
    parts = split_sizes([100] * 50_001)
    assert parts == [range(0, 50_000), range(50_000, 50_001)]


def test_split_by_count_keeps_every_line_once_and_in_order():
    parts = split_sizes([10] * 23, max_requests=5, max_bytes=10**6)
    assert [len(p) for p in parts] == [5, 5, 5, 5, 3]
    assert [i for p in parts for i in p] == list(range(23))


def test_split_by_bytes_counts_the_newline():
    # 9 bytes + newline = 10 per line: exactly 3 fit in 30 bytes, not 4.
    parts = split_sizes([9] * 7, max_requests=100, max_bytes=30)
    assert parts == [range(0, 3), range(3, 6), range(6, 7)]


def test_a_line_larger_than_a_batch_file_is_refused():
    assert fits(29, 30) and not fits(30, 30)
    with pytest.raises(ValueError, match="line 1"):
        split_sizes([5, 50], max_bytes=30)


def test_nothing_to_split_is_no_batch():
    assert split_sizes([]) == []


def test_polls_back_off_from_one_second_to_a_minute_or_stay_fixed():
    backoff = poll_delays()
    assert [next(backoff) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    fixed = poll_delays(0.25)
    assert [next(fixed) for _ in range(3)] == [0.25] * 3
    with pytest.raises(ValueError):
        next(poll_delays(0))
