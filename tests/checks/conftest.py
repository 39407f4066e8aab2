"""The planted-bug catalogues live in benchmarks/ (``mutations.py`` for layer pairs,
``torch_mutations.py`` for torch Functions), outside the installed package: the checker's
tests import them from there, as the benchmark scripts do."""

import sys
from pathlib import Path

BENCHMARKS = str(Path(__file__).resolve().parents[2] / "benchmarks")
if BENCHMARKS not in sys.path:
    sys.path.insert(0, BENCHMARKS)
