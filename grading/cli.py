"""Grade returned notebooks: points per exercise, and a one-line reason for every point lost.

Usage::

    gatelab-grade SUBMISSION... --solutions FOLDER [--json FILE] [--csv FILE]
        [--timeout SECONDS] [--jobs N] [--key FILE] [--no-sandbox] [--memory MB]
        [--cpu SECONDS] [--file-size MB] [--processes N] [--library-calls zero|review]

(``python -m notebooks.grade`` from a checkout: the solutions are its notebooks/.)

A SUBMISSION is a notebook, or a folder searched for notebooks (``*.ipynb``). The student
is the file's stem (``alice.ipynb``), or the name of its folder when the file keeps its
assignment's name (``alice/01_gates_and_circuits.ipynb``); in a SUBMISSION folder, the
name of the folder below it that holds the file (nbgrader's
``submitted/alice/ps1/01_gates_and_circuits.ipynb``). The assignment is read from the
notebook's metadata, else its file name, else the exercise ids of its cells.

Each submission's notebook runs, cell after cell as Restart & Run All would, in a process
of its own, under bubblewrap (`grading.sandbox`). The grader's own process runs the
solution notebook and, for each exercise, its check cell with the hidden tests, at inputs
drawn from a seed derived from the student's name and the teacher's key (HMAC); the
check calls the student's functions in the student's process, which answers with plain
data only (`grading.judge`). An exercise scores its points when every check passes, else
0 with a status and a reason:

- ``pass``; ``fail`` (a check failed; for a wrong gradient, the checker's hint);
- ``error`` (the code raised, or its process died or broke the protocol); ``timeout``
  (it ran past ``--timeout`` seconds and was stopped); ``missing`` (the cell is gone);
- ``flagged``: the exercise's cell calls the library's own implementation of the
  exercise (``layers.softplus_backward`` in the softplus exercise); its points are 0
  with ``--library-calls zero`` (the default) or null, for the teacher, with ``review``;
- ``manual``: an answer in words, left to the teacher (its points are null).

A file that cannot be graded at all (not a notebook, not one of the assignments) gets a
record with its ``error``; the others are graded all the same, and the exit status is 0
whenever the arguments are right. The table of students x exercises is printed, then the
reasons. ``--json`` writes one record per file::

    {"student", "path", "notebook", "exercises": [{"id", "points", "max_points",
     "status", "feedback"}], "total", "max_total", "error"}

where ``total`` and ``max_total`` count the automatically graded exercises.
``--csv`` writes the table (points; manual answers left empty for the teacher).
"""

import argparse
import ast
import csv
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from grading import sandbox
from grading.make_student import ANSWER_STUB, CHECK_SUFFIX, read_notebook

JUDGE = Path(__file__).resolve().parent / "judge.py"
DEFAULT_TIMEOUT = 60.0
DEFAULT_KEY = Path("~/.config/gatelab/grading.key")
KEY_BYTES = 32
# The judge forks its checkers: a BLAS thread pool does not survive a fork, and one
# thread per process keeps parallel checkers from slowing each other down.
SINGLE_THREADED = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                 "VECLIB_MAXIMUM_THREADS"), "1")
FEEDBACK_CHARACTERS = 400
# The library whose own implementation of an exercise a student's cell must not call.
LIBRARY = "layers"

__all__ = ["Exercise", "grade", "main", "seed", "load_key"]


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


def solutions(folder):
    """The assignments of the solution notebooks ``NN_*.ipynb`` in `folder`: name (the
    notebook's stem) -> Assignment."""
    found = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = read_notebook(path)
        found[path.stem] = Assignment(path.stem, nb, exercises(nb))
    return found


def seed(student, key):
    """The seed of a student's hidden tests: a 32-bit number, the HMAC-SHA256 of the
    name under the teacher's `key` (bytes), so that no student can compute it."""
    digest = hmac.new(key, student.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big")


def load_key(path):
    """The teacher's key in the file at `path`, made (random, readable by its owner
    only) when it does not exist."""
    path = Path(path).expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(KEY_BYTES) + "\n")
    key = path.read_bytes().strip()
    if not key:
        raise ValueError(f"the key file {path} is empty")
    return key


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


def code_cells(nb, assignment):
    """The code cells of a student's notebook, in order, as the judge runs them:
    [{"source", "exercise", "check"}], "exercise" naming the exercise a cell answers
    (None for the others; only the first cell found for an exercise, as
    `answer_sources`), "check" true for a check cell (its visible checks)."""
    ids = {e.id: assignment.nb["cells"][e.cell].get("id") for e in assignment.exercises
           if e.kind == "code"}
    by_cell_id = {cell_id: exercise for exercise, cell_id in ids.items()}
    cells, seen = [], set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        exercise = _grade_id(cell) if _grade_id(cell) in ids else (
            by_cell_id.get(cell.get("id")) if _grade_id(cell) is None else None)
        if exercise in seen:
            exercise = None
        seen.add(exercise)
        check = str(_grade_id(cell)).endswith(CHECK_SUFFIX)
        cells.append({"source": cell["source"], "exercise": exercise, "check": check})
    return cells


def run_job(assignment, submissions, options):
    """Grade the assignment's code exercises for `submissions` [(seed, code cells)] in a
    judge process; its outcomes per submission, or a str saying why there are none."""
    cells = []
    checks = {e.check: e.id for e in assignment.exercises if e.kind == "code"}
    answers = {e.cell: e.id for e in assignment.exercises if e.kind == "code"}
    for index, cell in enumerate(assignment.nb["cells"]):
        cells.append({"kind": cell["cell_type"], "source": cell["source"],
                      "exercise": answers.get(index), "check": checks.get(index)})
    job = {"cells": cells, "timeout": options.timeout, "jobs": options.jobs,
           "child": sandbox.command(options.limits, options.sandbox),
           "env": sandbox.environment(),
           "submissions": [{"seed": number, "cells": code} for number, code in submissions]}
    with tempfile.TemporaryDirectory(prefix="gatelab-grade-") as folder:
        env = {**os.environ, **SINGLE_THREADED, "MPLBACKEND": "Agg",
               "IPYTHONDIR": str(Path(folder) / "ipython")}
        finished = subprocess.run(command(), input=json.dumps(job).encode("utf-8"),
                                  cwd=folder, env=env, capture_output=True, check=False,
                                  preexec_fn=sandbox.die_with_parent)
    if finished.returncode == 0:
        try:
            return json.loads(finished.stdout)
        except ValueError:
            pass
    lines = finished.stderr.decode("utf-8", "replace").strip().splitlines()
    return (f"the grading judge stopped with status {finished.returncode}"
            + (f": {lines[-1]}" if lines else ""))


def command():
    """The command line of the judge: the file as a script (see `grading.judge`)."""
    return [sys.executable, str(JUDGE)]


def _manual(source):
    if source is None:
        return "missing", "the answer's cell is not in the notebook"
    if ANSWER_STUB in source:
        return "manual", f"not answered: the cell still says {ANSWER_STUB}"
    return "manual", "answered: to grade by hand"


@dataclass
class Settings:
    """How a class is graded (the command's options)."""

    key: bytes
    timeout: float = DEFAULT_TIMEOUT
    jobs: int = None
    sandbox: bool = True
    limits: dict = None
    library_calls: str = "zero"

    def __post_init__(self):
        self.jobs = self.jobs or os.cpu_count() or 1
        self.limits = {**sandbox.DEFAULT_LIMITS, **(self.limits or {})}


def grade(paths, assignments, settings):
    """Grade the notebooks at `paths` (files or folders); one record per file.

    Parameters
    ----------
    paths : list of Path
    assignments : dict
        name -> Assignment (`solutions`).
    settings : Settings

    Returns
    -------
    list of dict
        The records of the module docstring, in the order of the files.
    """
    records, work = [], {}
    for path, student, reason in submission_files(paths, assignments):
        record = {"student": plain_text(student), "path": str(path),
                  "notebook": None, "exercises": [], "total": 0, "max_total": 0,
                  "error": reason}
        records.append(record)
        if reason is not None:
            continue
        try:
            nb = read_notebook(path)
        except ValueError as exc:
            record["error"] = plain_text(str(exc))
            continue
        name = assignment_of(nb, path, assignments)
        if name is None:
            record["error"] = ("not one of the assignments (" + ", ".join(assignments) + ")")
            continue
        record["notebook"] = name
        work.setdefault(name, []).append((record, student, nb))
    for name, items in work.items():
        assignment = assignments[name]
        outcomes = run_job(assignment, [(seed(student, settings.key),
                                         code_cells(nb, assignment))
                                        for _, student, nb in items], settings)
        for key, (record, _, nb) in enumerate(items):
            if isinstance(outcomes, str):
                record["error"] = plain_text(outcomes)
                continue
            _score(record, assignment, answer_sources(nb, assignment), outcomes[key],
                   settings.library_calls)
    return records


def _score(record, assignment, sources, outcomes, library_calls):
    setup = [plain_text(line) for line in outcomes.get("setup", [])]
    for exercise in assignment.exercises:
        if exercise.kind == "markdown":
            status, feedback = _manual(sources[exercise.id])
        else:
            outcome = outcomes[exercise.id]
            status, feedback = outcome["status"], plain_text(outcome["feedback"])
            called = library_implementation(sources[exercise.id], assignment, exercise)
            if called and status == "pass":
                status = "flagged"
                feedback = (f"calls the library's own {', '.join(called)}: "
                            + ("points left to the teacher" if library_calls == "review"
                               else "no points"))
            if setup:
                feedback += f" (Restart & Run All of this notebook fails: {setup[0]})"
        if status == "manual" or (status == "flagged" and library_calls == "review"):
            points = None
        else:
            points = exercise.points if status == "pass" else 0
        record["exercises"].append({"id": exercise.id, "points": points,
                                    "max_points": exercise.points, "status": status,
                                    "feedback": feedback[:FEEDBACK_CHARACTERS * 2]})
        if exercise.kind == "code":
            record["total"] += points or 0
            record["max_total"] += exercise.points


def library_implementation(source, assignment, exercise):
    """The names of the library's own implementation of `exercise` that the student's
    `source` uses (sorted): a function of `layers` named like a function the exercise
    defines (``my_softplus_forward`` -> ``softplus_forward``) that the reference
    solution itself does not use. Found in the source's syntax, so a name built at run
    time escapes it: a signal for the teacher, not a proof."""
    try:
        import layers
        student = ast.parse(source or "")
        reference = ast.parse(assignment.nb["cells"][exercise.cell]["source"])
    except (ImportError, SyntaxError):
        return []
    defined = {node.name for node in reference.body if isinstance(node, ast.FunctionDef)}
    own = {name.removeprefix("my_") for name in defined} & set(dir(layers))
    own -= _used_names(reference)
    return sorted(own & _used_names(student))


def _used_names(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name.split(".")[-1])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
    return names


def plain_text(text):
    """`text` on one line, without control or format characters (a terminal escape, a
    carriage return, a forged newline, a bidirectional override)."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
                   for c in str(text))


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
            problems.append(f"{plain_text(record['path'])}: not graded: {record['error']}")
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
    rows = [[*header[:-1], "total", "max_total"]]
    for line in body:
        total, max_total = line[-1].split("/")
        rows.append([*("" if cell == "manual" else cell for cell in line[:-1]),
                     total, max_total])
    with atomic(path, newline="") as file:
        csv.writer(file).writerows(rows)


def write_json(records, path):
    with atomic(path) as file:
        file.write(json.dumps(records, indent=1) + "\n")


class atomic:
    """A text file written beside `path` and renamed onto it when complete, so that the
    file is never seen half written."""

    def __init__(self, path, newline=None):
        self.path, self.newline = Path(path), newline

    def __enter__(self):
        descriptor, self.temporary = tempfile.mkstemp(dir=self.path.parent,
                                                      prefix=f".{self.path.name}.")
        self.file = os.fdopen(descriptor, "w", encoding="utf-8", newline=self.newline)
        return self.file

    def __exit__(self, kind, value, traceback):
        self.file.close()
        if kind is None:
            os.replace(self.temporary, self.path)
        else:
            os.unlink(self.temporary)


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


def _megabytes(text):
    return int(_positive(text) * 2**20)


def parser(prog="gatelab-grade", solutions_default=None):
    """The command line's parser; `solutions_default` is the folder of solution
    notebooks when --solutions is not given (else it is required)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("submissions", nargs="+", type=Path,
                        help="returned notebooks, or folders of them")
    parser.add_argument("--solutions", type=Path, default=solutions_default,
                        required=solutions_default is None,
                        help="the folder of the solution notebooks (NN_name.ipynb)")
    parser.add_argument("--json", type=Path, help="write one record per file to this file")
    parser.add_argument("--csv", type=Path, help="write the class table to this file")
    parser.add_argument("--timeout", type=_positive, default=DEFAULT_TIMEOUT,
                        help=f"seconds allowed to one exercise (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--jobs", type=_jobs, default=None,
                        help="exercises run at once (default: the number of CPUs)")
    parser.add_argument("--key", type=Path, default=DEFAULT_KEY,
                        help="the teacher's key file for the hidden tests' seeds, made on "
                        f"first use (default {DEFAULT_KEY})")
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                        help="run submissions without bubblewrap: verdicts stay trusted, "
                        "but files and processes are not isolated")
    limits = sandbox.DEFAULT_LIMITS
    parser.add_argument("--memory", type=_megabytes, default=limits["memory"],
                        help="MB of memory per submission (default "
                        f"{limits['memory'] // 2**20})")
    parser.add_argument("--cpu", type=_positive, default=limits["cpu"],
                        help=f"CPU seconds per submission (default {limits['cpu']})")
    parser.add_argument("--file-size", type=_megabytes, default=limits["fsize"],
                        help=f"MB per file written (default {limits['fsize'] // 2**20})")
    parser.add_argument("--processes", type=_jobs, default=limits["nproc"],
                        help=f"processes per submission (default {limits['nproc']})")
    parser.add_argument("--library-calls", choices=("zero", "review"), default="zero",
                        help="points of an exercise that calls the library's own "
                        "implementation: zero (default), or review (left to the teacher)")
    return parser


def main(argv=None, prog="gatelab-grade", solutions_default=None):
    options = parser(prog, solutions_default).parse_args(argv)
    if not hasattr(os, "fork"):
        print(f"{prog}: grading needs os.fork (Linux or macOS; on Windows, WSL)",
              file=sys.stderr)
        return 2
    if options.sandbox and sandbox.bwrap() is None:
        print(f"{prog}: {sandbox.INSTALL_HINT}", file=sys.stderr)
        return 2
    if not options.sandbox:
        print(f"{prog}: --no-sandbox: the submissions' files and processes are not "
              "isolated (verdicts are still decided by the grader alone)", file=sys.stderr)
    try:
        key = load_key(options.key)
        assignments = solutions(options.solutions)
    except (OSError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if not assignments:
        print(f"{prog}: no solution notebook (NN_name.ipynb) in {options.solutions}",
              file=sys.stderr)
        return 2
    settings = Settings(key=key, timeout=options.timeout, jobs=options.jobs,
                        sandbox=options.sandbox, library_calls=options.library_calls,
                        limits={"memory": options.memory, "cpu": int(options.cpu),
                                "fsize": options.file_size, "nproc": options.processes})
    records = grade(options.submissions, assignments, settings)
    print(report(records))
    if options.json is not None:
        write_json(records, options.json)
    if options.csv is not None:
        write_csv(records, options.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
