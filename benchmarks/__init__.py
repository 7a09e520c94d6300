"""Benchmarks: each runs llm-magics and a baseline in the same run and reports ratios."""
