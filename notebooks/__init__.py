"""gatelab's assignment notebooks: sources in src/, the builder, the student versions and
the grader (``python -m notebooks.grade``)."""
