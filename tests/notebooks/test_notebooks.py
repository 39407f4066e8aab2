"""The assignment notebooks: built from their sources, solutions run top to bottom, and
the student versions hold no solution and stop with the hint at each exercise.

Needs the notebook tooling (nbformat, nbclient, nbconvert, ipykernel); skipped without it.
"""

import ast
import os
import re
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("nbconvert")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[2]
# notebooks/ is a folder of the repo, not installed. Appended, not prepended: where the
# packages are installed (from the sdist), the installed ones must stay the ones imported.
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from notebooks import build, make_student  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# A minute per notebook keeps a student's run-all, and this suite, short; a cell that hangs
# fails at this timeout.
SECONDS_PER_NOTEBOOK = 60
# Notebooks that train on the digits need scikit-learn (the examples extra).
NEEDS = {"05_fully_connected_nets": "sklearn", "06_convolutional_nets": "sklearn"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CELL_FRAME = re.compile(r"Cell In\[\d+\], line (\d+)")


def execute(nb, path):
    """Run `nb` in a fresh kernel with `path` as working directory; return seconds taken."""
    client = nbclient.NotebookClient(nb, timeout=SECONDS_PER_NOTEBOOK, kernel_name="python3",
                                     resources={"metadata": {"path": str(path)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


# A solution line shorter than this ("return out", "db = delta1") may well be written
# outside a solution too; a longer one found anywhere in a student notebook leaks.
MIN_SECRET_LENGTH = 20


def solution_lines(nb):
    """The stripped lines inside solution and hidden-test blocks, those of
    MIN_SECRET_LENGTH or more."""
    secret = set()
    for cell in nb.cells:
        lines = cell.source.splitlines()
        blocks = make_student.solution_blocks(cell.source)
        hidden = make_student.hidden_test_blocks(cell.source)
        for begin, end in [block[:2] for block in blocks] + hidden:
            secret.update(line.strip() for line in lines[begin + 1:end])
    return {line for line in secret if len(line) >= MIN_SECRET_LENGTH}


def _stubs(source):
    """(line number counted from 1, hint) of each stub's raise in a student cell."""
    stubs = []
    for number, line in enumerate(source.splitlines(), start=1):
        match = re.match(r"\s*raise NotImplementedError\((.*)\)$", line)
        if match:
            stubs.append((number, ast.literal_eval(match[1])))
    return stubs


@pytest.fixture(autouse=True)
def headless_matplotlib(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


def test_the_series_is_there():
    names = [path.stem for path in NOTEBOOKS]
    assert len(names) == 7 and names == sorted(names)
    assert [source.stem for source in build.sources()] == names


def test_every_notebook_is_built_from_its_source():
    assert build.main(["--check"]) == 0


@pytest.mark.parametrize("source", build.sources(), ids=lambda p: p.stem)
def test_every_source_is_valid_python(source):
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=source.name)
    assert tree.body
    # The magic written as a comment in the source is a magic in the notebook.
    nb = build.build(source)
    assert "%matplotlib inline" in nb.cells[1].source.splitlines()
    assert "# %matplotlib inline" in source.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_graded_cells_carry_nbgraders_metadata(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["gatelab"] == {"assignment": path.stem}
    graded = [(cell, cell.metadata["nbgrader"]) for cell in nb.cells
              if "nbgrader" in cell.metadata]
    ids = [meta["grade_id"] for _, meta in graded]
    assert len(ids) == len(set(ids))
    for number, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if make_student.solution_blocks(cell.source):
            assert meta["solution"] and not meta["locked"], (path.name, number)
            assert meta["grade"] == (cell.cell_type == "markdown")
        if make_student.hidden_test_blocks(cell.source):
            assert meta == {"grade": True, "grade_id": meta["grade_id"], "locked": True,
                            "points": meta["points"], "schema_version": 3,
                            "solution": False, "task": False}
            answer = next(c for c in reversed(nb.cells[:number]) if c.cell_type == "code")
            assert meta["grade_id"] == answer.metadata["nbgrader"]["grade_id"] + "_check"
            assert meta["points"] > 0
        if meta is None:
            assert "SOLUTION" not in cell.source and "HIDDEN TESTS" not in cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solution_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    if path.stem in NEEDS:
        pytest.importorskip(NEEDS[path.stem])
    # The hidden tests run at a seed of their own here, as a student's do when graded.
    monkeypatch.setenv("GATELAB_SEED", str(sum(path.stem.encode()) * 7919))
    nb = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells), "stored with outputs"
    seconds = execute(nb, tmp_path)
    stderr = [output.text for cell in nb.cells for output in cell.get("outputs", [])
              if output.get("name") == "stderr"]
    assert not stderr, f"{path.name} wrote to stderr (a warning?): {stderr}"
    assert seconds < SECONDS_PER_NOTEBOOK, f"{path.name} took {seconds:.1f} s"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_version_holds_no_solution(path):
    solution = nbformat.read(path, as_version=4)
    student = make_student.student_version(solution, name=path.name)
    text = "\n".join(cell.source for cell in student.cells)
    secret = solution_lines(solution)
    assert secret, f"{path.name} has no exercise"
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "HIDDEN TESTS" not in text and "GATELAB_SEED" not in text
    leaked = [line for line in secret if line in text]
    assert not leaked
    # nbgrader's metadata survives, so nbgrader and the grader find the exercises.
    assert [c.metadata for c in student.cells] == [c.metadata for c in solution.cells]
    blocks = sum(len(make_student.solution_blocks(cell.source)) for cell in solution.cells
                 if cell.cell_type == "code")
    assert text.count("raise NotImplementedError(") == blocks
    # The solution notebook itself is left as it was.
    assert "BEGIN SOLUTION" in "\n".join(cell.source for cell in solution.cells)


def exercises(path):
    """The number of code exercises (solution blocks in code cells) of the notebook."""
    nb = nbformat.read(path, as_version=4)
    return sum(len(make_student.solution_blocks(cell.source)) for cell in nb.cells
               if cell.cell_type == "code")


def solved_up_to(nb, k):
    """A copy of solution notebook `nb` whose code exercises 0..k-1 keep their solutions
    and the others are stubbed as in the student version (k = 0: the student's code);
    the hidden tests are removed, as in the student version."""
    nb = nbformat.from_dict(nb)
    seen = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if make_student.hidden_test_blocks(cell.source):
            cell.source = make_student.stub(cell.source, "code")     # no solution block here
        blocks = make_student.solution_blocks(cell.source)
        lines = cell.source.splitlines()
        for number, (begin, end, _, _) in reversed(list(enumerate(blocks, start=seen))):
            if number >= k:
                block = "\n".join(lines[begin:end + 1])
                lines[begin:end + 1] = make_student.stub(block, "code").splitlines()
        seen += len(blocks)
        cell.source = "\n".join(lines)
    return nb


EXERCISES = [(path, k) for path in NOTEBOOKS for k in range(exercises(path))]


@pytest.fixture(scope="module")
def notebook_kernel(tmp_path_factory):
    """kernel(path): one kernel per notebook, reused by all of its exercises (each run
    starts at the top and redefines what it uses). The previous notebook's kernel is shut
    down when the next notebook asks, so one runs at a time."""
    from jupyter_client import KernelManager

    current = {}

    def kernel(path):
        if current.get("path") != path:
            if "manager" in current:
                current["manager"].shutdown_kernel(now=True)
            manager = KernelManager(kernel_name="python3")
            manager.start_kernel(cwd=str(tmp_path_factory.mktemp(path.stem)),
                                 env={**os.environ, "MPLBACKEND": "Agg"})
            current.update(path=path, manager=manager)
        return current["manager"]

    yield kernel
    if "manager" in current:
        current["manager"].shutdown_kernel(now=True)


@pytest.mark.parametrize("path, k", EXERCISES, ids=lambda v: v.stem if isinstance(v, Path)
                         else f"exercise{v + 1}")
def test_student_version_stops_with_the_hint_inside_each_exercise(path, k, notebook_kernel,
                                                                  tmp_path):
    """With exercises before k solved, the notebook stops inside exercise k, with its hint."""
    if path.stem in NEEDS:
        pytest.importorskip(NEEDS[path.stem])
    solution = nbformat.read(path, as_version=4)
    if k == 0:                       # the student version exactly as the command writes it
        make_student.main(["--out", str(tmp_path), str(path)])
        student = nbformat.read(tmp_path / path.name, as_version=4)
        assert [c.source for c in student.cells if c.cell_type == "code"] == \
            [c.source for c in solved_up_to(solution, 0).cells if c.cell_type == "code"]
    else:
        student = solved_up_to(solution, k)
    stubs = [stub for cell in student.cells if cell.cell_type == "code"
             for stub in _stubs(cell.source)]
    assert len(stubs) == exercises(path) - k
    raise_line, hint = stubs[0]
    assert [h for _, h in stubs].count(hint) == 1, "each hint must name its exercise"

    client = nbclient.NotebookClient(student, km=notebook_kernel(path),
                                     timeout=SECONDS_PER_NOTEBOOK)
    with pytest.raises(nbclient.exceptions.CellExecutionError) as failure:
        client.execute()
    assert (failure.value.ename, failure.value.evalue) == ("NotImplementedError", hint)
    errors = [output for cell in student.cells for output in cell.get("outputs", [])
              if output.output_type == "error"]
    assert len(errors) == 1
    frames = CELL_FRAME.findall(ANSI.sub("", "\n".join(errors[0].traceback)))
    # The innermost frame is the stub's raise (its hint is unique): a check cell that
    # swallowed the error (say, inside check_layer) would fail differently.
    assert frames[-1] == str(raise_line)


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("hello", r"not a Jupyter notebook \(NotJSONError"),
    ('{"cells": 3, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
     "not a Jupyter notebook"),
])
def test_make_student_names_a_file_it_cannot_use(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.ipynb"
    if content is not None:
        bad.write_text(content)
    out = tmp_path / "student"
    assert make_student.main(["--out", str(out), str(NOTEBOOKS[0]), str(bad)]) == 2
    assert re.fullmatch(f"make_student: {re.escape(str(bad))}: {message}.*\n",
                        capsys.readouterr().err)
    assert not out.exists()                      # the good notebook was not written either


def test_stub_keeps_indentation_and_quotes_the_hint():
    source = ("def f(x):\n"
              "    ### BEGIN SOLUTION: it's x + 1\n"
              "    y = x + 1\n"
              "    ### END SOLUTION\n"
              "    return y")
    stubbed = make_student.stub(source, "code")
    assert stubbed == ("def f(x):\n"
                       "    # YOUR CODE HERE\n"
                       "    raise NotImplementedError(\"it's x + 1\")\n"
                       "    return y")
    namespace = {}
    exec(compile(stubbed, "<stub>", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="it's x"):
        namespace["f"](1)
    assert make_student.stub("a\n### BEGIN SOLUTION\nb\n### END SOLUTION", "markdown") == \
        "a\n" + make_student.ANSWER_STUB


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "line 1: BEGIN SOLUTION is never closed"),
    ("x = 1\n### END SOLUTION", "line 2: END SOLUTION without a BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
     "line 2: BEGIN SOLUTION inside the block opened at line 1"),
])
def test_unbalanced_markers_are_refused(source, message):
    with pytest.raises(ValueError, match=f"^nb.ipynb, cell 4, {re.escape(message)}$"):
        make_student.solution_blocks(source, where="nb.ipynb, cell 4")


def test_percent_format_parsing():
    cells = build.parse_cells("# %% [markdown]\n# # Title\n#\n# text\n\n# %%\n\nx = 1\n\n")
    assert cells == [("markdown", "# Title\n\ntext", {}), ("code", "x = 1", {})]
    cells = build.parse_cells('# %% exercise="f" points=2.5\n# %matplotlib inline\n'
                              '# %% [markdown] exercise="q" points=1\n# a')
    assert cells == [("code", "%matplotlib inline", {"exercise": "f", "points": 2.5}),
                     ("markdown", "a", {"exercise": "q", "points": 1})]
    # A magic is commented out in the source (valid Python) and live in the notebook;
    # an ordinary comment, or a percent sign in one, stays a comment.
    magic = build.parse_cells("# %%\n# %matplotlib inline\n# 5 % 2 is odd\n# %% not\nx = 1")
    assert magic == [("code", "%matplotlib inline\n# 5 % 2 is odd\n# %% not\nx = 1", {})]
    with pytest.raises(ValueError, match=r"^s.py:2: a markdown line must start with '#'"):
        build.parse_cells("# %% [markdown]\ntext", where="s.py")
    with pytest.raises(ValueError, match=r"^s.py:1: text before the first '# %%' marker"):
        build.parse_cells("x = 1\n# %%", where="s.py")
    with pytest.raises(ValueError, match=r"^s.py:1: options are exercise="):
        build.parse_cells("# %% points=two", where="s.py")
    with pytest.raises(ValueError, match=r"^s.py:1: options are exercise="):
        build.parse_cells('# %% exercise="a" exercise="b"', where="s.py")


EXERCISE = '# %% exercise="f" points=2\ndef f(x):\n    ### BEGIN SOLUTION\n    return x\n' \
    '    ### END SOLUTION\n'
CHECK = '# %% check="f"\nassert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n' \
    '### END HIDDEN TESTS\n'


def test_declared_exercises_become_nbgrader_cells():
    nb = build.notebook(build.parse_cells(EXERCISE + CHECK + "# %%\nf(3)\n"), "a")
    assert nb.metadata["gatelab"] == {"assignment": "a"}
    assert [c.metadata.get("nbgrader") for c in nb.cells] == [
        {"solution": True, "grade": False, "locked": False, "grade_id": "f",
         "schema_version": 3, "task": False},
        {"solution": False, "grade": True, "locked": True, "grade_id": "f_check", "points": 2,
         "schema_version": 3, "task": False},
        None]
    answer = build.parse_cells('# %% [markdown] exercise="why" points=1\n# Why?\n'
                               '# ### BEGIN SOLUTION\n# Because.\n# ### END SOLUTION\n')
    assert build.notebook(answer).cells[0].metadata["nbgrader"] == {
        "solution": True, "grade": True, "locked": False, "grade_id": "why", "points": 1,
        "schema_version": 3, "task": False}


@pytest.mark.parametrize("text, message", [
    ("# %%\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n",
     "cell 0: a cell with solution blocks or points must be declared as an exercise"),
    (EXERCISE, "exercise 'f' has no check cell"),
    (EXERCISE + "# %%\nf(1)\n", "cell 1: the code cell after exercise 'f' must be its check"),
    (EXERCISE + CHECK.replace("### BEGIN HIDDEN TESTS\nassert f(2) == 2\n### END HIDDEN "
                              "TESTS\n", ""),
     "cell 1: check cell 'f' must be a code cell with hidden tests"),
    (EXERCISE + CHECK + EXERCISE + CHECK, "cell 2: exercise ids are unique"),
    (EXERCISE.replace(" points=2", "") + CHECK, "cell 0: exercise 'f' needs solution blocks"),
    ("# %%\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n",
     "cell 0: hidden tests belong in a check cell"),
])
def test_exercise_declarations_are_checked(text, message):
    with pytest.raises(ValueError, match=f"^s.py(, |: ){re.escape(message)}"):
        build.notebook(build.parse_cells(text, where="s.py"), where="s.py")


def test_hidden_tests_are_removed_from_the_student_version():
    source = "a = 1\n### BEGIN HIDDEN TESTS\nassert a == 1\n### END HIDDEN TESTS"
    assert make_student.stub(source, "code") == "a = 1"
    with pytest.raises(ValueError, match="line 2: BEGIN HIDDEN TESTS is never closed"):
        make_student.stub("a = 1\n### BEGIN HIDDEN TESTS", "code")
