"""The benchmark harness: ``python -m benchmarks --size 100k`` (docs/performance.md)."""
