"""``python -m notebooks.make_student [--out DIR] [NOTEBOOK...]`` from a checkout: the
student versions of this folder's solution notebooks (`grading.make_student`), written
to notebooks/student/ by default."""

import sys
from pathlib import Path

from grading.make_student import (ANSWER_STUB, CHECK_SUFFIX, ClearSolutions,  # noqa: F401
                                  hidden_test_blocks, read_notebook, solution_blocks, stub,
                                  student_version)
from grading.make_student import main as _main

HERE = Path(__file__).resolve().parent
STUDENT = HERE / "student"


def main(argv=None):
    return _main(argv, folder=HERE, prog="python -m notebooks.make_student")


if __name__ == "__main__":
    sys.exit(main())
