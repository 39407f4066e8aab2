"""``python -m notebooks.grade SUBMISSION... [--json FILE] [--csv FILE] [--timeout S]
[--jobs N] ...`` from a checkout: `grading.cli` (``gatelab-grade``) with this folder's
solution notebooks."""

import sys
from pathlib import Path

from grading.cli import main as _main

HERE = Path(__file__).resolve().parent


def main(argv=None):
    return _main(argv, prog="python -m notebooks.grade", solutions_default=HERE)


if __name__ == "__main__":
    sys.exit(main())
