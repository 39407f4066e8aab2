"""Grade returned notebooks: points per exercise, and a one-line reason for every point lost.

Usage, from the repository root::

    python -m notebooks.grade SUBMISSION... [--json FILE] [--csv FILE] [--timeout SECONDS]

A SUBMISSION is a notebook, or a folder searched for notebooks (``*.ipynb``). The student
is the file's stem (``alice.ipynb``), or the name of its folder when the file keeps its
assignment's name (``alice/01_gates_and_circuits.ipynb``); in a SUBMISSION folder, the
name of the folder below it that holds the file (nbgrader's
``submitted/alice/ps1/01_gates_and_circuits.ipynb``). The assignment is read from the
notebook's metadata, else its file name, else the exercise ids of its cells.

Each exercise is graded on its own against the solution notebooks of this repository: it
runs with the student's exercise cell, the reference solutions of the exercises before
it, and its check cell with the hidden tests that the student version does not contain,
at a seed derived from the student's name. It scores its points when every check
passes, else 0 with a status and a reason:

- ``pass``; ``fail`` (a check failed; for a wrong gradient, the checker's hint);
- ``error`` (the code raised, or the kernel died); ``timeout`` (it ran past
  ``--timeout`` seconds and was stopped); ``missing`` (the exercise's cell is gone);
- ``manual``: an answer in words, left to the teacher (its points are null).

A file that cannot be graded at all (not a notebook, not one of the assignments) gets a
record with its ``error``; the others are graded all the same, and the exit status is 0
whenever grading ran. The table of students x exercises is printed, then the reasons.
``--json`` writes one record per file::

    {"student", "path", "notebook", "exercises": [{"id", "points", "max_points",
     "status", "feedback"}], "total", "max_total", "error"}

where ``total`` and ``max_total`` count the automatically graded exercises.
``--csv`` writes the table (points; manual answers left empty for the teacher).
"""

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from notebooks.build import CHECK_SUFFIX
from notebooks.make_student import ANSWER_STUB, read_notebook
from notebooks.runner import SEED_VARIABLE, command

HERE = Path(__file__).resolve().parent
DEFAULT_TIMEOUT = 60.0
# The runner forks its children from one process: a BLAS thread pool does not survive a
# fork, and one thread per child keeps parallel children from slowing each other down.
SINGLE_THREADED = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                  "VECLIB_MAXIMUM_THREADS"), "1")

__all__ = ["Exercise", "grade", "main", "seed", "SEED_VARIABLE"]


@dataclass(frozen=True)
class Exercise:
    """One graded exercise of a solution notebook.

    Attributes
    ----------
    id : str
        nbgrader's grade_id of the cell the student writes in.
    kind : str
        "code" (graded by its check cell) or "markdown" (an answer graded by hand).
    points : float
        Its points, declared in the notebook's source.
    cell : int
        Index of the cell the student writes in.
    check : int or None
        Index of its check cell (code exercises).
    """

    id: str
    kind: str
    points: float
    cell: int
    check: int = None


def exercises(nb):
    """The graded exercises of a built solution notebook, read from nbgrader's metadata.

    Parameters
    ----------
    nb : dict
        An nbformat 4 notebook built by `notebooks.build`.

    Returns
    -------
    list of Exercise, in the order of their cells
    """
    found, answers = [], {}
    for index, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader")
        if not meta:
            continue
        if meta["solution"] and cell["cell_type"] == "markdown":
            found.append(Exercise(meta["grade_id"], "markdown", meta["points"], index))
        elif meta["solution"]:
            answers[meta["grade_id"]] = index
        elif meta["grade"]:
            exercise = meta["grade_id"].removesuffix(CHECK_SUFFIX)
            found.append(Exercise(exercise, "code", meta["points"], answers[exercise], index))
    return sorted(found, key=lambda exercise: exercise.cell)


@dataclass
class Assignment:
    """A solution notebook and its exercises."""

    name: str
    nb: dict
    exercises: list


def solutions(folder=HERE):
    """The assignments: name (the notebook's stem) -> Assignment."""
    found = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = read_notebook(path)
        found[path.stem] = Assignment(path.stem, nb, exercises(nb))
    return found


def seed(student):
    """The seed of a student's hidden tests: a 32-bit number derived from the name."""
    return int.from_bytes(hashlib.sha256(student.encode("utf-8")).digest()[:4], "big")


def submission_files(paths, assignments):
    """(path, student, reason or None) for every file to grade (module docstring); a
    folder without notebooks is a path with its reason."""
    for path in paths:
        if not path.is_dir():
            yield path, student_of(path, assignments), None
            continue
        files = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        if not files:
            yield path, path.resolve().name, "no notebook (*.ipynb) in this folder"
        for file in files:
            below = file.relative_to(path).parts
            yield file, below[0] if len(below) > 1 else student_of(file, assignments), None


def student_of(path, assignments):
    """The file's stem, or its folder's name when the stem is an assignment's name."""
    return path.parent.resolve().name if path.stem in assignments else path.stem


def assignment_of(nb, path, assignments):
    """The name of the assignment `nb` is a copy of, or None."""
    named = nb.get("metadata", {}).get("gatelab", {}).get("assignment")
    if named in assignments:
        return named
    if path.stem in assignments:
        return path.stem
    ids = {_grade_id(cell) for cell in nb["cells"]} - {None}
    overlap = {name: len(ids & {e.id for e in a.exercises}) for name, a in assignments.items()}
    best = max(overlap, key=overlap.get, default=None)
    return best if best is not None and overlap[best] > 0 else None


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def answer_sources(nb, assignment):
    """exercise id -> the student's source for it, or None when its cell is missing.

    A cell is found by nbgrader's grade_id (the first, as nbgrader does), else by its
    cell id when a frontend dropped the metadata; it must be of the reference cell's type.
    """
    by_grade_id, by_cell_id = {}, {}
    for cell in nb["cells"]:
        by_grade_id.setdefault(_grade_id(cell), cell)
        if _grade_id(cell) is None:
            by_cell_id.setdefault(cell.get("id"), cell)
    sources = {}
    for exercise in assignment.exercises:
        reference = assignment.nb["cells"][exercise.cell]
        cell = by_grade_id.get(exercise.id) or by_cell_id.get(reference.get("id"))
        found = cell is not None and cell["cell_type"] == reference["cell_type"]
        sources[exercise.id] = cell["source"] if found else None
    return sources


def run_job(assignment, submissions, timeout, jobs):
    """Run the assignment's code exercises for `submissions` [(student, answers)] in a
    runner process; its outcomes per submission, or a str saying why there are none."""
    cells = []
    checks = {e.check: e.id for e in assignment.exercises if e.kind == "code"}
    answers = {e.cell: e.id for e in assignment.exercises if e.kind == "code"}
    for index, cell in enumerate(assignment.nb["cells"]):
        cells.append({"kind": cell["cell_type"], "source": cell["source"],
                      "exercise": answers.get(index), "check": checks.get(index)})
    job = {"cells": cells, "timeout": timeout, "jobs": jobs,
           "submissions": [{"seed": seed(student), "answers": sources}
                           for student, sources in submissions]}
    with tempfile.TemporaryDirectory(prefix="gatelab-grade-") as folder:
        folder = Path(folder)
        (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
        (folder / "work").mkdir()
        env = {**os.environ, **SINGLE_THREADED, "MPLBACKEND": "Agg",
               "IPYTHONDIR": str(folder / "ipython")}
        env.pop(SEED_VARIABLE, None)
        with open(folder / "runner.log", "w", encoding="utf-8") as log:
            finished = subprocess.run(
                command(folder / "job.json", folder / "result.json"), cwd=folder / "work",
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                check=False)
        if finished.returncode == 0 and (folder / "result.json").exists():
            return json.loads((folder / "result.json").read_text(encoding="utf-8"))
        lines = (folder / "runner.log").read_text(encoding="utf-8").strip().splitlines()
        return (f"the grading runner stopped with status {finished.returncode}"
                + (f": {lines[-1]}" if lines else ""))


def _manual(source):
    if source is None:
        return "missing", "the answer's cell is not in the notebook"
    if ANSWER_STUB in source:
        return "manual", f"not answered: the cell still says {ANSWER_STUB}"
    return "manual", "answered: to grade by hand"


def grade(paths, timeout=DEFAULT_TIMEOUT, jobs=None, assignments=None):
    """Grade the notebooks at `paths` (files or folders); one record per file.

    Parameters
    ----------
    paths : list of Path
    timeout : float
        Seconds allowed to one exercise (the student's cell and its check cell).
    jobs : int, optional
        Exercises run at once (default: the number of CPUs).
    assignments : dict, optional
        name -> Assignment; by default the solution notebooks of this repository.

    Returns
    -------
    list of dict
        The records of the module docstring, in the order of the files.
    """
    assignments = solutions() if assignments is None else assignments
    jobs = jobs or os.cpu_count() or 1
    records, work = [], {}
    for path, student, reason in submission_files(paths, assignments):
        record = {"student": student, "path": str(path),
                  "notebook": None, "exercises": [], "total": 0, "max_total": 0,
                  "error": reason}
        records.append(record)
        if reason is not None:
            continue
        try:
            nb = read_notebook(path)
        except ValueError as exc:
            record["error"] = str(exc)
            continue
        name = assignment_of(nb, path, assignments)
        if name is None:
            record["error"] = ("not one of the assignments (" + ", ".join(assignments) + ")")
            continue
        record["notebook"] = name
        work.setdefault(name, []).append((record, answer_sources(nb, assignments[name])))
    for name, items in work.items():
        outcomes = run_job(assignments[name], [(r["student"], a) for r, a in items],
                           timeout, jobs)
        for key, (record, sources) in enumerate(items):
            if isinstance(outcomes, str):
                record["error"] = outcomes
                continue
            _score(record, assignments[name], sources, outcomes[key])
    return records


def _score(record, assignment, sources, outcomes):
    for exercise in assignment.exercises:
        if exercise.kind == "markdown":
            status, feedback = _manual(sources[exercise.id])
        else:
            status, feedback = outcomes[exercise.id]["status"], outcomes[exercise.id]["feedback"]
        points = None if status == "manual" else exercise.points if status == "pass" else 0
        record["exercises"].append({"id": exercise.id, "points": points,
                                    "max_points": exercise.points, "status": status,
                                    "feedback": feedback})
        if exercise.kind == "code":
            record["total"] += points
            record["max_total"] += exercise.points


def column(notebook, exercise_id):
    """The table's name of an exercise: the notebook's number and the exercise's id."""
    return f"{notebook.split('_')[0]}:{exercise_id}"


def table(records):
    """(header, rows) of the class table: one row per student, one column per exercise,
    then the total; a cell holds the points, "manual", or nothing (not handed in). A
    student's second file of one notebook gets a row of its own, named after the file."""
    columns, rows, handed_in = [], {}, set()
    for record in records:
        name = record["student"]
        if (name, record["notebook"]) in handed_in:     # a second copy gets a row of its own
            name = f"{name} ({Path(record['path']).name})"
        handed_in.add((name, record["notebook"]))
        row = rows.setdefault(name, {"total": 0, "max_total": 0})
        for exercise in record["exercises"]:
            key = column(record["notebook"], exercise["id"])
            if key not in columns:
                columns.append(key)
            row[key] = "manual" if exercise["points"] is None else f"{exercise['points']:g}"
        row["total"] += record["total"]
        row["max_total"] += record["max_total"]
    header = ["student", *columns, "total"]
    body = [[student, *(row.get(name, "") for name in columns),
             f"{row['total']:g}/{row['max_total']:g}"] for student, row in rows.items()]
    return header, body


def report(records):
    """The text `main` prints: the table, then every reason for lost points."""
    header, body = table(records)
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [header, *body]]
    problems = []
    for record in records:
        if record["error"] is not None:
            problems.append(f"{record['path']}: not graded: {record['error']}")
        for exercise in record["exercises"]:
            if exercise["status"] not in ("pass", "manual"):
                problems.append(f"{record['student']}  "
                                f"{column(record['notebook'], exercise['id'])}  "
                                f"{exercise['status']}: {exercise['feedback']}")
    if problems:
        lines += ["", "Points lost:"] + [f"  {problem}" for problem in problems]
    return "\n".join(lines)


def write_csv(records, path):
    header, body = table(records)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([*header[:-1], "total", "max_total"])
        for line in body:
            total, max_total = line[-1].split("/")
            writer.writerow([*("" if cell == "manual" else cell for cell in line[:-1]),
                             total, max_total])


def _positive(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0; got {text!r}")
    return value


def _jobs(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m notebooks.grade",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("submissions", nargs="+", type=Path,
                        help="returned notebooks, or folders of them")
    parser.add_argument("--json", type=Path, help="write one record per file to this file")
    parser.add_argument("--csv", type=Path, help="write the class table to this file")
    parser.add_argument("--timeout", type=_positive, default=DEFAULT_TIMEOUT,
                        help=f"seconds allowed to one exercise (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--jobs", type=_jobs, default=None,
                        help="exercises run at once (default: the number of CPUs)")
    options = parser.parse_args(argv)
    if not hasattr(os, "fork"):
        print("python -m notebooks.grade: grading needs os.fork (Linux or macOS; on "
              "Windows, WSL)", file=sys.stderr)
        return 2
    records = grade(options.submissions, timeout=options.timeout, jobs=options.jobs)
    print(report(records))
    if options.json is not None:
        options.json.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    if options.csv is not None:
        write_csv(records, options.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
