"""Benchmarks: llm-magics and the alternatives in the same run, reported as ratios.

``python -m benchmarks`` (``__main__``) runs every scenario and writes
``benchmarks/results.json``, ``docs/benchmarks.md`` and ``docs/img/benchmarks.png``.

Where things are: ``scenarios/`` (one module per scenario), ``contenders``
(the code each side runs), ``worker`` and ``pool`` (one process per contender,
driven over JSON lines), ``streams`` and ``batch_lines`` (measurements that run
inside a worker), ``sizes`` (every number), ``report`` and ``notes`` (the
outputs, and what a missed target means). Nothing here is imported by
``llm_magics``; this package is not installed with it.
"""
