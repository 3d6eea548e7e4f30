"""Benchmarks (`make bench`, docs/benchmarks.md): scripts that print figures, never assert time."""
