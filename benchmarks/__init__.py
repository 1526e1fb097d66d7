"""Benchmarks: one script per question; `make bench` runs them all into docs/BENCHMARKS.md."""
