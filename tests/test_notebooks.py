"""The assignment notebooks: built from their sources, solutions run top to bottom, and
the student versions hold no solution and stop with the hint at the first exercise.

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

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))        # notebooks/ is a folder of the repo, not installed

from notebooks import build, make_student  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# The budget for one notebook; a cell that hangs fails at this timeout.
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


def solution_lines(nb):
    """Stripped lines inside solution blocks that occur nowhere else in the notebook."""
    inside, outside = set(), set()
    for cell in nb.cells:
        lines = cell.source.splitlines()
        in_block = set()
        for begin, end, _, _ in make_student.solution_blocks(cell.source):
            in_block.update(range(begin + 1, end))
        for number, line in enumerate(lines):
            (inside if number in in_block else outside).add(line.strip())
    return {line for line in inside - outside if line}


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solution_notebook_runs_top_to_bottom(path, tmp_path):
    if path.stem in NEEDS:
        pytest.importorskip(NEEDS[path.stem])
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
    leaked = [line for line in secret if line in text]
    assert not leaked
    blocks = sum(len(make_student.solution_blocks(cell.source)) for cell in solution.cells
                 if cell.cell_type == "code")
    assert text.count("raise NotImplementedError(") == blocks
    # The solution notebook itself is left as it was.
    assert "BEGIN SOLUTION" in "\n".join(cell.source for cell in solution.cells)


@pytest.fixture(scope="module")
def shared_kernel(tmp_path_factory):
    """One kernel for every student version. Each stops at its first exercise, where the
    stub raises whatever ran before it, so sharing only saves the kernels' start-up."""
    from jupyter_client import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(tmp_path_factory.mktemp("students")),
                         env={**os.environ, "MPLBACKEND": "Agg"})
    yield manager
    manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_version_stops_with_the_hint_inside_the_first_exercise(path, shared_kernel,
                                                                        tmp_path):
    if path.stem in NEEDS:
        pytest.importorskip(NEEDS[path.stem])
    make_student.main(["--out", str(tmp_path), str(path)])
    student = nbformat.read(tmp_path / path.name, as_version=4)
    stubs = [stub for cell in student.cells if cell.cell_type == "code"
             for stub in _stubs(cell.source)]
    raise_line, hint = stubs[0]
    assert [h for _, h in stubs].count(hint) == 1, "the first hint must name its exercise"

    client = nbclient.NotebookClient(student, km=shared_kernel, timeout=SECONDS_PER_NOTEBOOK)
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
    assert cells == [("markdown", "# Title\n\ntext"), ("code", "x = 1")]
    with pytest.raises(ValueError, match=r"^s.py:2: a markdown line must start with '#'"):
        build.parse_cells("# %% [markdown]\ntext", where="s.py")
    with pytest.raises(ValueError, match=r"^s.py:1: text before the first '# %%' marker"):
        build.parse_cells("x = 1\n# %%", where="s.py")
