"""Grading of returned assignment notebooks, decided where no student code runs.

A submission's code runs in a child process (in a bubblewrap sandbox on Linux) that answers
only with plain data (`grading.wire`); the reference notebook, its check cells and hidden
tests run in the grader's own process (`grading.judge`), which computes every verdict.
The command is `gatelab-grade` (`grading.cli`).
"""

# The package imports nothing: the submission's process imports `grading.wire` and
# `grading.channel` alone, and must not pay for the command's nbformat and nbconvert.
# The modules are the API (`grading.cli.grade`, `grading.cli.main`).
__all__ = []
