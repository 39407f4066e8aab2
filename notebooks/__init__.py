"""gatelab's assignment notebooks: sources in src/, the builder, the student versions."""
