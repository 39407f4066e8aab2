"""nbgrader itself takes the built notebooks: ``generate_assignment`` writes a student
version without solutions or hidden tests, and ``autograde`` scores a submission per
exercise as ``python -m notebooks.grade`` does.

Optional: needs nbgrader (the notebooks extra) and a Jupyter kernel.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")
nbformat = pytest.importorskip("nbformat")
from nbgrader.api import Gradebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))          # notebooks/ is a folder of the repo, not installed

from grading import cli  # noqa: E402

GATES = ROOT / "notebooks" / "01_gates_and_circuits.ipynb"


def nbgrader(course, *argv):
    # nbgrader runs `alembic` by name: put this interpreter's scripts first on PATH, so
    # that the suite passes when run as venv/bin/python -m pytest without activating.
    scripts = str(Path(sys.executable).parent)
    path = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    finished = subprocess.run([sys.executable, "-m", "nbgrader", *argv, "--force"],
                              cwd=course, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "MPLBACKEND": "Agg", "PATH": path})
    assert finished.returncode == 0, finished.stdout + finished.stderr


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="notebooks.grade forks")
def test_nbgrader_generates_and_autogrades_an_assignment(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    shutil.copy(GATES, course / "source" / "ps1")
    nbgrader(course, "generate_assignment", "ps1")

    released = nbformat.read(course / "release" / "ps1" / GATES.name, as_version=4)
    text = "\n".join(cell.source for cell in released.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "GATELAB_SEED" not in text
    assert "return {\"x\": z, \"y\": z, \"z\": x + y}" not in text

    # A student fills in the released notebook: the solutions, except a hard-coded
    # by_hand (its visible check passes) and a wrong gradient in my_multiply.
    solution = {grade_id(cell): cell.source for cell in nbformat.read(GATES, as_version=4).cells}
    for cell in released.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = solution[grade_id(cell)]
        if grade_id(cell) == "by_hand":
            cell.source = ("def by_hand(x, y, z):\n"
                           "    return {'x': -4.0, 'y': -4.0, 'z': 3.0}")
        if grade_id(cell) == "my_multiply":
            cell.source = cell.source.replace("dx, dy = dout * y, dout * x",
                                              "dx, dy = dout * y, 2 * dout * x")
    submitted = course / "submitted" / "alice" / "ps1" / GATES.name
    submitted.parent.mkdir(parents=True)
    nbformat.write(released, submitted)
    nbgrader(course, "autograde", "ps1", "--create")

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(GATES.stem, "ps1", "alice")
        by_nbgrader = {g.name.removesuffix("_check"): g.score for g in notebook.grades}
    assert by_nbgrader == {"by_hand": 0, "neuron": 3, "fan_out": 2, "my_multiply": 0}

    [record] = cli.grade([course / "submitted"], cli.solutions(ROOT / "notebooks"),
                         cli.Settings(key=b"key", timeout=60, jobs=2, sandbox=False))
    assert record["student"] == "alice" and record["notebook"] == GATES.stem
    assert {e["id"]: e["points"] for e in record["exercises"]} == by_nbgrader
