"""The benchmark scripts import each other as top-level modules (``workloads``,
``report``), as they do when run as ``python benchmarks/compare.py``: their folder goes
on ``sys.path`` for these tests."""
import os
import sys

BENCHMARKS = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))
