"""`python -m notebooks.grade` (`grading.cli`): a class of synthetic submissions graded end
to end, and the pieces the grade rests on (exercise table, seeds, feedback lines, files it
cannot use, the judge's statuses). Attacks on the grader: test_grade_attacks.py.

Needs the notebook tooling (nbformat, nbconvert, IPython); skipped without it. Grading
forks, so it runs where os.fork exists; the class runs in bubblewrap where it is installed,
else without the sandbox.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbconvert")
pytest.importorskip("IPython")
if not hasattr(os, "fork"):
    pytest.skip("grading forks its exercise runs", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
# notebooks/ is a folder of the repo, not installed. Appended, not prepended: where the
# packages are installed (from the sdist), the installed ones must stay the ones imported.
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from grading import cli, judge, sandbox  # noqa: E402
from notebooks import grade, make_student  # noqa: E402

GATES = ROOT / "notebooks" / "01_gates_and_circuits.ipynb"
LAYER = ROOT / "notebooks" / "03_write_a_layer.ipynb"
SOLUTIONS = ROOT / "notebooks"
# Long enough for any exercise of notebook 01 on a busy machine, short enough that the
# student who loops forever costs the test little.
TIMEOUT = 10
SANDBOX = ["--no-sandbox"] if sandbox.bwrap() is None else []


def solution(path):
    return nbformat.read(path, as_version=4)


def with_answer(nb, exercise, source):
    """A copy of `nb` whose cell for `exercise` holds `source`."""
    nb = nbformat.from_dict(nb)
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == exercise]
    cell.source = source
    return nb


def answer(nb, exercise):
    return next(c.source for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == exercise)


def without(nb, exercise):
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") != exercise]
    return nb


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(autouse=True)
def headless_matplotlib(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


def test_the_exercises_and_their_points_come_from_the_sources():
    nb = solution(GATES)
    found = cli.exercises(nb)
    assert [(e.id, e.kind, e.points) for e in found] == [
        ("by_hand", "code", 2), ("neuron", "code", 3), ("fan_out", "code", 2),
        ("my_multiply", "code", 3)]
    for exercise in found:
        assert "### BEGIN SOLUTION" in nb.cells[exercise.cell].source
        assert "### BEGIN HIDDEN TESTS" in nb.cells[exercise.check].source
    manual = [e for e in cli.exercises(solution(LAYER)) if e.kind == "markdown"]
    assert [(e.id, e.points) for e in manual] == [("planted_bugs", 2)]


def test_every_notebook_has_graded_exercises_with_hidden_tests():
    for assignment in cli.solutions(SOLUTIONS).values():
        code = [e for e in assignment.exercises if e.kind == "code"]
        assert code, assignment.name
        for exercise in code:
            check = assignment.nb.cells[exercise.check].source
            assert make_student.hidden_test_blocks(check), (assignment.name, exercise.id)
            assert judge.SEED_VARIABLE in check, (assignment.name, exercise.id)


def test_seeds_are_derived_from_the_name_and_the_teachers_key(tmp_path):
    key = cli.load_key(tmp_path / "keys" / "grading.key")      # made on first use
    assert (tmp_path / "keys" / "grading.key").stat().st_mode & 0o777 == 0o600
    assert cli.load_key(tmp_path / "keys" / "grading.key") == key and len(key) == 64
    assert cli.seed("alice", key) == cli.seed("alice", key)
    seeds = {cli.seed(name, key) for name in ("alice", "bob", "carol", "Alice", "alice ")}
    assert len(seeds) == 5 and all(0 <= s < 2**32 for s in seeds)
    # Without the key nobody computes it: another key, other seeds.
    assert cli.seed("alice", b"another key") != cli.seed("alice", key)


def test_feedback_is_one_line_with_the_checkers_hint():
    from checks import assert_gradients

    def cube_forward(x):
        return x ** 3, x

    def cube_backward(dout, x):
        return 2 * x ** 2 * dout

    with pytest.raises(AssertionError) as failure:
        assert_gradients(cube_forward, cube_backward, np.linspace(0.5, 1.5, 4))
    assert judge.summary(failure.value) == \
        "gradient check of cube failed: x: analytic = 0.6667 x numeric"
    assert judge.summary(AssertionError("first line\nsecond")) == "first line"
    assert judge.summary(ValueError("")) == "ValueError"
    try:
        compile("def f(:\n", "<cell>", "exec")
    except SyntaxError as exc:
        assert judge.summary(exc).startswith("SyntaxError: ")
        assert judge.summary(exc).endswith("(line 1 of the exercise cell)")


def test_student_and_assignment_are_found_from_the_path_and_the_metadata(tmp_path):
    assignments = cli.solutions(SOLUTIONS)
    nb = solution(GATES)
    for path in ["class/alice.ipynb", "class/bob/01_gates_and_circuits.ipynb",
                 "class/carol/ps1/01_gates_and_circuits.ipynb",
                 "class/carol/ps1/.ipynb_checkpoints/01_gates_and_circuits-checkpoint.ipynb",
                 "dave/01_gates_and_circuits.ipynb"]:
        write(nb, tmp_path / path)
    found = cli.submission_files([tmp_path / "class", tmp_path / "dave",
                                    tmp_path / "erin.ipynb"], assignments)
    assert [(path.relative_to(tmp_path).as_posix(), student, reason)
            for path, student, reason in found] == [
        ("class/alice.ipynb", "alice", None),
        ("class/bob/01_gates_and_circuits.ipynb", "bob", None),
        ("class/carol/ps1/01_gates_and_circuits.ipynb", "carol", None),    # nbgrader's
        ("dave/01_gates_and_circuits.ipynb", "dave", None),
        ("erin.ipynb", "erin", None)]
    renamed = nbformat.from_dict(nb)
    del renamed.metadata["gatelab"]
    assert cli.assignment_of(renamed, tmp_path / "x.ipynb", assignments) == \
        "01_gates_and_circuits"                                   # by its exercise ids
    assert cli.assignment_of(nbformat.v4.new_notebook(), tmp_path / "x.ipynb",
                               assignments) is None


def test_an_answer_cell_is_found_by_grade_id_then_by_cell_id():
    assignment = cli.solutions(SOLUTIONS)["01_gates_and_circuits"]
    nb = nbformat.from_dict(assignment.nb)
    stripped = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get(
        "grade_id") == "neuron")
    del stripped.metadata["nbgrader"]                 # a frontend that drops metadata
    sources = cli.answer_sources(nb, assignment)
    assert sources["neuron"] == stripped.source
    nb.cells.remove(stripped)
    assert cli.answer_sources(nb, assignment)["neuron"] is None


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: submissions"),
    (["x.ipynb", "--timeout", "0"], "must be a number of seconds > 0"),
    (["x.ipynb", "--jobs", "0"], "must be an integer >= 1"),
])
def test_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        grade.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_files_that_cannot_be_graded_get_a_record(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    write(nbformat.v4.new_notebook(), tmp_path / "stranger.ipynb")
    records = cli.grade([tmp_path / "nobody.ipynb", tmp_path / "empty",
                         tmp_path / "stranger.ipynb"], cli.solutions(SOLUTIONS),
                        cli.Settings(key=b"key", sandbox=False))
    assert [(r["student"], r["notebook"], r["exercises"], r["error"]) for r in records] == [
        ("nobody", None, [], "no such file"),
        ("empty", None, [], "no notebook (*.ipynb) in this folder"),
        ("stranger", None, [], "not one of the assignments (" +
         ", ".join(cli.solutions(SOLUTIONS)) + ")"),
    ]


def run_judge(cells, answers, timeout=2, sandboxed=False):
    """The judge on a tiny assignment, one submission per answer for exercise "e" (a
    submission's cells: the answer, then `y = 1` for exercise "later"); the outcomes."""
    child = sandbox.command(sandbox.DEFAULT_LIMITS, sandboxed)
    job = {"cells": cells, "timeout": timeout, "jobs": 2, "child": child,
           "env": sandbox.environment(),
           "submissions": [{"seed": 12345, "cells": [
               {"source": source, "exercise": "e", "check": False},
               {"source": "y = 1", "exercise": "later", "check": False}]}
               for source in answers]}
    job["submissions"].append({"seed": 1, "cells": []})
    finished = subprocess.run(cli.command(), input=json.dumps(job), capture_output=True,
                              text=True, check=True, timeout=120)
    return json.loads(finished.stdout)


def test_the_judge_reports_each_way_an_exercise_can_end():
    """Exercise `e` defines x, its check wants x == 1 (and x a float); exercise `later`
    comes after a reference cell that fails."""
    cells = [{"kind": "code", "source": "x = 1.0", "exercise": "e"},
             {"kind": "code", "source": "import os\nassert type(x) is float and x == 1, "
              "f'x is {x!r}'\nassert os.environ.get('GATELAB_SEED', '12345') == '12345'",
              "check": "e"},
             {"kind": "markdown", "source": "text"},
             {"kind": "code", "source": "1 / 0"},
             {"kind": "code", "source": "y = 1", "exercise": "later"},
             {"kind": "code", "source": "assert y == 1", "check": "later"}]
    answers = {"pass": "x = 1.0",
               "fail": "x = 2.0",
               "raises": "raise ValueError('bad value')",
               "syntax": "x = = 1",
               "undefined": "z = 1.0",
               "signal": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",
               "exits": "import os\nos._exit(3)",
               "loops": "while True:\n    pass",
               "a float subclass": "class F(float):\n    pass\nx = F(1.0)",
               "no seed here": "import os\nassert 'GATELAB_SEED' not in os.environ\nx = 1.0"}
    results = run_judge(cells, answers.values())
    outcomes = dict(zip([*answers, "missing"], (result["e"] for result in results),
                        strict=True))
    ended = "the student's process ended while running this exercise"
    assert outcomes == {
        "pass": {"status": "pass", "feedback": "all checks passed"},
        "fail": {"status": "fail", "feedback": "x is 2.0"},
        "raises": {"status": "error", "feedback": "ValueError: bad value"},
        "syntax": {"status": "error", "feedback": "SyntaxError: invalid syntax (<cell>, line 1)"},
        "undefined": {"status": "error", "feedback":
                      "NameError: the exercise's cell does not define x"},
        "signal": {"status": "error", "feedback": ended},
        "exits": {"status": "error", "feedback": ended},
        "loops": {"status": "timeout", "feedback": "did not finish within 2 s (an endless loop?)"},
        "a float subclass": {"status": "fail", "feedback": "x is <x>"},
        "no seed here": {"status": "pass", "feedback": "all checks passed"},
        "missing": {"status": "missing", "feedback": "the exercise's cell is not in the notebook"},
    }
    assert [result["later"] for result in results] == len(results) * [
        {"status": "error", "feedback": "not graded: the reference solution fails in its "
         "cell 3 (ZeroDivisionError: division by zero)"}]


def test_a_judge_that_dies_leaves_each_of_its_files_a_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "command", lambda: [
        sys.executable, "-c", "import sys; sys.exit('the judge broke')"])
    write(solution(GATES), tmp_path / "ann.ipynb")
    [record] = cli.grade([tmp_path / "ann.ipynb"], cli.solutions(SOLUTIONS),
                         cli.Settings(key=b"key", sandbox=False))
    assert (record["notebook"], record["exercises"], record["error"]) == (
        "01_gates_and_circuits", [], "the grading judge stopped with status 1: the judge broke")


def test_the_librarys_own_implementation_is_found_in_the_source():
    assignment = cli.solutions(SOLUTIONS)["03_write_a_layer"]
    [softplus] = [e for e in assignment.exercises if e.id == "softplus"]

    def found(source):
        return cli.library_implementation(source, assignment, softplus)

    assert found(answer(assignment.nb, "softplus")) == []
    assert found("from layers import softplus_forward as f") == ["softplus_forward"]
    assert found("import layers\nlayers.softplus_backward(d, c)") == ["softplus_backward"]
    assert found("getattr(layers, 'softplus_backward')") == ["softplus_backward"]
    assert found("def f(:") == []                         # a syntax error is graded, not read
    # --library-calls review: status flagged, points left to the teacher.
    record = {"exercises": [], "total": 0, "max_total": 0}
    outcomes = {e.id: {"status": "pass", "feedback": "all checks passed"}
                for e in assignment.exercises}
    sources = {**cli.answer_sources(assignment.nb, assignment),
               "softplus": "import layers\nmy_softplus_forward = layers.softplus_forward"}
    cli._score(record, assignment, sources, outcomes, "review")
    scored = {e["id"]: (e["status"], e["points"]) for e in record["exercises"]}
    assert scored["softplus"] == ("flagged", None) and scored["bilinear_forward"] == ("pass", 2)
    assert (record["total"], record["max_total"]) == (5, 8)


def test_feedback_and_names_are_plain_text():
    assert cli.plain_text("a\x1b[2K\rb\nc\u202ed\u2028e\x00") == "a [2K b c d e "


def test_the_table_has_a_row_per_student_and_a_column_per_exercise():
    def record(student, path, notebook, points, manual=None):
        exercises = [{"id": f"e{k}", "points": p, "max_points": 2, "status": "pass" if p
                      else "fail", "feedback": ""} for k, p in enumerate(points)]
        if manual is not None:
            exercises.append({"id": manual, "points": None, "max_points": 1,
                              "status": "manual", "feedback": ""})
        return {"student": student, "path": path, "notebook": notebook,
                "exercises": exercises, "total": sum(points),
                "max_total": 2 * len(points), "error": None}

    records = [record("ann", "ann/01_a.ipynb", "01_a", [2, 0]),
               record("ann", "ann/02_b.ipynb", "02_b", [2], manual="why"),
               record("ann", "copy/ann.ipynb", "01_a", [2, 2]),
               record("bo", "bo.ipynb", "02_b", [0])]
    header, rows = cli.table(records)
    assert header == ["student", "01:e0", "01:e1", "02:e0", "02:why", "total"]
    assert rows == [["ann", "2", "0", "2", "manual", "4/6"],
                    ["ann (ann.ipynb)", "2", "2", "", "", "4/4"],
                    ["bo", "", "", "0", "", "0/2"]]


def test_every_other_solution_notebook_scores_full_marks(tmp_path):
    """The solutions of notebooks 02 and 04 to 07 (01 and 03: the class below), graded as
    a student's: their checks call the student's functions with library layers (07), a
    model to update in place (05), caches of library objects (04)."""
    pytest.importorskip("sklearn")
    for path in sorted(SOLUTIONS.glob("0[24567]_*.ipynb")):
        write(solution(path), tmp_path / "ref" / path.name)
    records = cli.grade([tmp_path / "ref"], cli.solutions(SOLUTIONS),
                        cli.Settings(key=b"key", timeout=60, jobs=2,
                                     sandbox=sandbox.bwrap() is not None))
    assert [(r["notebook"], r["error"], r["total"]) for r in records] == [
        ("02_jacobians_and_shapes", None, 10), ("04_settle_a_dispute", None, 4),
        ("05_fully_connected_nets", None, 6), ("06_convolutional_nets", None, 4),
        ("07_recurrent_nets_and_word_vectors", None, 7)]
    assert all(r["total"] == r["max_total"] for r in records)


def class_of(folder):
    """Synthetic submissions of notebook 01 (and two of 03): student -> what it holds."""
    nb, student = solution(GATES), make_student.student_version(solution(GATES))
    write(with_answer(nb, "by_hand", "import os\nassert 'GATELAB_SEED' not in os.environ\n"
                      + answer(nb, "by_hand")), folder / "alice" / GATES.name)
    write(student, folder / "bob.ipynb")
    write(with_answer(nb, "my_multiply", answer(nb, "my_multiply").replace(
        "dx, dy = dout * y, dout * x", "dx, dy = dout * y, 2 * dout * x")), folder / "carol.ipynb")
    write(with_answer(nb, "fan_out", "while True:\n    pass"), folder / "dave.ipynb")
    write(without(nb, "neuron"), folder / "erin.ipynb")
    hard_coded = with_answer(nb, "by_hand", "def by_hand(x, y, z):\n"
                             "    return {'x': -4.0, 'y': -4.0, 'z': 3.0}")
    hard_coded = with_answer(hard_coded, "fan_out", "def fan_out_by_hand(x, y, z):\n"
                             "    return {'x': 2.0, 'y': 5.0, 'z': 0.0}")
    write(hard_coded, folder / "frank.ipynb")
    write(with_answer(nb, "my_multiply", "import os\nos._exit(3)"), folder / "grace.ipynb")
    (folder / "henry.ipynb").write_text("these are my answers\n")
    write(solution(LAYER), folder / "alice" / LAYER.name)
    write(make_student.student_version(solution(LAYER)), folder / "bob" / LAYER.name)
    layer = solution(LAYER)
    write(with_answer(layer, "softplus", answer(layer, "softplus").replace(
        "dx = dout * sigmoid_forward(x)[0]", "dx = layers.softplus_backward(dout, "
        "layers.softplus_forward(x)[1])").replace("def my_softplus_forward",
                                                  "import layers\n\n\ndef my_softplus_forward")),
          folder / "ivan" / LAYER.name)
    broken = nbformat.from_dict(nb)
    first = next(cell for cell in broken.cells if cell.cell_type == "code")
    first.source += "\nraise RuntimeError('a setup cell fails')"
    write(broken, folder / "judy.ipynb")


def test_a_class_is_graded_end_to_end(tmp_path):
    submissions = tmp_path / "returned"
    class_of(submissions)
    (tmp_path / "key").write_text("a fixed key: the hidden inputs, and so the reasons, "
                                  "are the same on every run\n")
    json_path, csv_path = tmp_path / "grades.json", tmp_path / "grades.csv"
    # Bounded: the student looping forever is stopped at TIMEOUT; a hang fails here.
    finished = subprocess.run(
        [sys.executable, "-m", "notebooks.grade", str(submissions), "--json", str(json_path),
         "--csv", str(csv_path), "--timeout", str(TIMEOUT), "--jobs", "2",
         "--key", str(tmp_path / "key"), *SANDBOX],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    records = json.loads(json_path.read_text())
    by_file = {Path(r["path"]).relative_to(submissions).as_posix(): r for r in records}
    assert sorted(by_file) == ["alice/01_gates_and_circuits.ipynb",
                               "alice/03_write_a_layer.ipynb", "bob.ipynb",
                               "bob/03_write_a_layer.ipynb", "carol.ipynb", "dave.ipynb",
                               "erin.ipynb", "frank.ipynb", "grace.ipynb", "henry.ipynb",
                               "ivan/03_write_a_layer.ipynb", "judy.ipynb"]
    for record in records:
        assert set(record) == {"student", "path", "notebook", "exercises", "total",
                               "max_total", "error"}

    def outcome(file):
        record = by_file[file]
        assert record["error"] is None and record["notebook"] == "01_gates_and_circuits"
        return {e["id"]: (e["status"], e["points"]) for e in record["exercises"]}

    full = {"by_hand": ("pass", 2), "neuron": ("pass", 3), "fan_out": ("pass", 2),
            "my_multiply": ("pass", 3)}
    # The reference solution: full marks (and the seed was nowhere in alice's process).
    assert outcome("alice/01_gates_and_circuits.ipynb") == full
    assert by_file["alice/01_gates_and_circuits.ipynb"]["student"] == "alice"
    assert (by_file["alice/01_gates_and_circuits.ipynb"]["total"],
            by_file["alice/01_gates_and_circuits.ipynb"]["max_total"]) == (10, 10)
    # The untouched student version: 0 on every code exercise, each with its hint.
    bob = by_file["bob.ipynb"]
    assert outcome("bob.ipynb") == dict.fromkeys(full, ("error", 0))
    assert all(e["feedback"].startswith("NotImplementedError: ") for e in bob["exercises"])
    assert bob["total"] == 0 and bob["max_total"] == 10
    # One wrong gradient: only that exercise loses its points, with the checker's hint.
    assert outcome("carol.ipynb") == {**full, "my_multiply": ("fail", 0)}
    carol = {e["id"]: e for e in by_file["carol.ipynb"]["exercises"]}
    assert carol["my_multiply"]["feedback"] == \
        "gradient check of graph failed: z: analytic = 2 x numeric"
    # An endless loop: timeout, the rest graded, and the looping process is gone.
    assert outcome("dave.ipynb") == {**full, "fan_out": ("timeout", 0)}
    dave = {e["id"]: e for e in by_file["dave.ipynb"]["exercises"]}
    assert dave["fan_out"]["feedback"] == f"did not finish within {TIMEOUT} s (an endless loop?)"
    # A deleted exercise cell: missing; the exercises after it still graded.
    assert outcome("erin.ipynb") == {**full, "neuron": ("missing", 0)}
    # The printed values hard-coded: the visible checks pass, the hidden ones do not.
    assert outcome("frank.ipynb") == {**full, "by_hand": ("fail", 0), "fan_out": ("fail", 0)}
    frank = {e["id"]: e for e in by_file["frank.ipynb"]["exercises"]}
    assert frank["by_hand"]["feedback"] == \
        "by_hand(x, y, z): df/dx is wrong away from the lecture's point"
    # os._exit inside an exercise: its process ended; the others graded.
    assert outcome("grace.ipynb") == {**full, "my_multiply": ("error", 0)}
    grace = {e["id"]: e for e in by_file["grace.ipynb"]["exercises"]}
    assert grace["my_multiply"]["feedback"] == \
        "the student's process ended while running this exercise"
    # Restart & Run All stops at a setup cell: said in every exercise's feedback; the
    # exercises are graded all the same, as nbgrader does (it runs on past errors).
    assert outcome("judy.ipynb") == full
    assert all(e["feedback"] == "all checks passed (Restart & Run All of this notebook "
               "fails: code cell 1 raised RuntimeError: a setup cell fails)"
               for e in by_file["judy.ipynb"]["exercises"])
    # The library's own softplus inside the exercise: flagged, no points (the default).
    ivan = {e["id"]: e for e in by_file["ivan/03_write_a_layer.ipynb"]["exercises"]}
    assert (ivan["softplus"]["status"], ivan["softplus"]["points"]) == ("flagged", 0)
    assert ivan["softplus"]["feedback"] == ("calls the library's own softplus_backward, "
                                            "softplus_forward: no points")
    assert (ivan["bilinear_forward"]["status"], ivan["bilinear_forward"]["points"]) == \
        ("pass", 2)
    # Not JSON: a record with the reason, nothing graded.
    henry = by_file["henry.ipynb"]
    assert henry["notebook"] is None and henry["exercises"] == []
    assert henry["error"].startswith("not a Jupyter notebook (NotJSONError")
    # Answers in words are left to the teacher.
    layer = {e["id"]: e for e in by_file["alice/03_write_a_layer.ipynb"]["exercises"]}
    assert (layer["planted_bugs"]["status"], layer["planted_bugs"]["points"]) == ("manual", None)
    assert layer["planted_bugs"]["feedback"] == "answered: to grade by hand"
    assert by_file["alice/03_write_a_layer.ipynb"]["total"] == 8
    unanswered = {e["id"]: e for e in by_file["bob/03_write_a_layer.ipynb"]["exercises"]}
    assert unanswered["planted_bugs"]["feedback"].startswith("not answered")

    # The printed table: one row per student (alice and bob handed in two notebooks).
    lines = finished.stdout.splitlines()
    assert lines[0].split() == ["student", "01:by_hand", "01:neuron", "01:fan_out",
                                "01:my_multiply", "03:softplus", "03:bilinear_forward",
                                "03:bilinear_backward", "03:planted_bugs", "total"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:lines.index("")]}
    assert rows["alice"] == ["2", "3", "2", "3", "3", "2", "3", "manual", "18/18"]
    assert rows["bob"] == ["0", "0", "0", "0", "0", "0", "0", "manual", "0/18"]
    assert rows["carol"] == ["2", "3", "2", "0", "7/10"]
    assert rows["henry"] == ["0/0"]
    assert "  dave  01:fan_out  timeout: did not finish within" in finished.stdout
    assert f"{submissions / 'henry.ipynb'}: not graded: not a Jupyter notebook" in \
        finished.stdout
    with open(csv_path, newline="") as file:
        table = list(csv.reader(file))
    assert table[0] == ["student", "01:by_hand", "01:neuron", "01:fan_out", "01:my_multiply",
                        "03:softplus", "03:bilinear_forward", "03:bilinear_backward",
                        "03:planted_bugs", "total", "max_total"]
    assert table[1] == ["alice", "2", "3", "2", "3", "3", "2", "3", "", "18", "18"]
