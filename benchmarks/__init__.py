"""Benchmarks run by `scripts/bench <name>` (`python -m benchmarks.<name>`); JSON on stdout."""
