"""Benchmarks (``make bench``); results and the exact commands are in docs/BENCHMARKS.md."""
