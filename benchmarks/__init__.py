"""Benchmarks for every hot path; ``make bench`` (``python -m benchmarks``) runs them all."""
