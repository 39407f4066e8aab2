"""Build the solution notebooks ``notebooks/*.ipynb`` from ``notebooks/src/*.py``.

The sources are plain Python in the "percent" cell format (the one of jupytext, VS Code,
Spyder and PyCharm), so that a notebook is reviewed and diffed as code::

    # %% [markdown]
    # # A title
    # Markdown lines are comments.

    # %%
    # %matplotlib inline
    x = 1 + 1          # a code cell

A line ``# %%`` starts a code cell and ``# %% [markdown]`` a markdown cell; blank lines
around a cell are dropped. A source is valid Python, so linters and ``ast`` read it: a
line magic is written as a comment, ``# %matplotlib inline``, and the builder turns it
into ``%matplotlib inline`` (jupytext's convention).

Graded exercises are declared on the cell markers, in jupytext's ``key=value`` syntax::

    # %% exercise="by_hand" points=2
    def by_hand(x, y, z):
        ### BEGIN SOLUTION: the hint
        ...
        ### END SOLUTION

    # %% check="by_hand"
    assert ...                         # visible checks: feedback, no answer to copy
    ### BEGIN HIDDEN TESTS
    ...                                # the checks the grade rests on
    ### END HIDDEN TESTS

A code exercise's cell holds its solution blocks, and the next code cell is its check
cell, which must hold hidden tests. A markdown cell with ``exercise=... points=...``
holds a question's answer, graded by hand. The builder writes nbgrader's cell metadata
(an exercise cell is a solution cell, its check cell a locked grade cell with the
points, an answer cell a manually graded solution cell), so nbgrader's
``generate_assignment`` and ``autograde`` take the notebooks as they are, and it names
the assignment in the notebook's metadata (``gatelab.assignment``), which
``python -m notebooks.grade`` reads.

The notebooks are written without outputs and with cell ids numbered in order, so
building twice gives the same bytes and the ``.ipynb`` files in git stay small and
diffable.

Usage, from the repository root::

    python -m notebooks.build            # write notebooks/*.ipynb
    python -m notebooks.build --check    # exit 1 if one is out of date with its source
"""

import argparse
import json
import re
import sys
from pathlib import Path
from typing import NamedTuple

import nbformat

from grading.make_student import CHECK_SUFFIX, hidden_test_blocks, solution_blocks

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"

CELL_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?P<options>(?: \w+=\S+)*)\s*$")
OPTION = re.compile(r" (?P<key>\w+)=(?P<value>\S+)")
COMMENTED_MAGIC = re.compile(r"^# (?P<magic>%[A-Za-z]\w*\b.*)$")
EXERCISE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
OPTIONS = {"exercise": str, "check": str, "points": (int, float)}
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
NBGRADER_SCHEMA = 3



class Cell(NamedTuple):
    """One cell of a source: kind ("code" or "markdown"), source, marker options."""

    kind: str
    source: str
    options: dict


def sources(folder=SOURCES):
    """The notebook sources in the order of the series (names start with 01_, 02_...)."""
    return sorted(folder.glob("[0-9][0-9]_*.py"))


def parse_cells(text, where="<source>"):
    """The cells of a percent-format source: a list of (kind, source) pairs.

    Parameters
    ----------
    text : str
        The source file's text.
    where : str
        Its name, for error messages.

    Returns
    -------
    list of Cell
        kind is "code" or "markdown"; source has no leading or trailing blank lines;
        options are the marker's ``key=value`` pairs (exercise, check, points).
    """
    cells, kind, lines, options = [], None, [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        marker = CELL_MARKER.match(line)
        if marker:
            if kind is not None:
                cells.append(Cell(kind, _cell_source(kind, lines), options))
            kind, lines = ("markdown" if marker["markdown"] else "code"), []
            options = _options(marker["options"], f"{where}:{number}")
            continue
        if kind is None:
            if line.strip():
                raise ValueError(f"{where}:{number}: text before the first '# %%' marker")
            continue
        if kind == "markdown" and line.strip() and not line.startswith("#"):
            raise ValueError(f"{where}:{number}: a markdown line must start with '#'; "
                             f"got {line!r}")
        lines.append(line)
    if kind is not None:
        cells.append(Cell(kind, _cell_source(kind, lines), options))
    return cells


def _options(text, where):
    options = {}
    for match in OPTION.finditer(text):
        key = match["key"]
        try:
            value = json.loads(match["value"])
        except json.JSONDecodeError:
            value = None
        if key not in OPTIONS or key in options or not isinstance(value, OPTIONS[key]) \
                or isinstance(value, bool):
            raise ValueError(f"{where}: options are exercise=\"id\", check=\"id\" and "
                             f"points=NUMBER, each at most once; got {match[0].strip()!r}")
        options[key] = value
    return options


def _cell_source(kind, lines):
    if kind == "markdown":
        lines = [line[2:] if line.startswith("# ") else line[1:] for line in lines]
    else:
        lines = [COMMENTED_MAGIC.sub(r"\g<magic>", line) for line in lines]
    return "\n".join(lines).strip("\n")


def nbgrader_metadata(cells, where="<source>"):
    """nbgrader's metadata for each cell (None for a cell nbgrader leaves alone).

    Checks the declarations: every cell with solution blocks is an exercise with an id
    and points; a code exercise's next code cell is its check cell and holds hidden tests;
    ids are unique.

    Parameters
    ----------
    cells : list of Cell
        From `parse_cells`.
    where : str
        The source's name, for error messages.

    Returns
    -------
    list of (dict or None), one per cell
    """
    metadata, seen, open_exercise = [], set(), None
    for number, cell in enumerate(cells):
        here = f"{where}, cell {number}"
        exercise, check = cell.options.get("exercise"), cell.options.get("check")
        solutions = solution_blocks(cell.source, here)
        hidden = hidden_test_blocks(cell.source, here)
        if cell.kind == "code" and open_exercise is not None and check != open_exercise:
            raise ValueError(f"{here}: the code cell after exercise {open_exercise!r} must "
                             f"be its check cell (# %% check=\"{open_exercise}\")")
        if hidden and check is None:
            raise ValueError(f"{here}: hidden tests belong in a check cell")
        if exercise is not None:
            if not EXERCISE_ID.match(exercise) or exercise in seen:
                raise ValueError(f"{here}: exercise ids are unique lower-case identifiers; "
                                 f"got {exercise!r}")
            if not solutions or "points" not in cell.options or cell.options["points"] <= 0:
                raise ValueError(f"{here}: exercise {exercise!r} needs solution blocks and "
                                 "points > 0")
            seen.add(exercise)
            meta = _nbgrader(solution=True, grade=cell.kind == "markdown", locked=False,
                             grade_id=exercise)
            if cell.kind == "markdown":
                meta["points"] = cell.options["points"]
            else:
                open_exercise, points = exercise, cell.options["points"]
            metadata.append(meta)
        elif check is not None:
            if check != open_exercise or cell.kind != "code" or not hidden:
                raise ValueError(f"{here}: check cell {check!r} must be a code cell with "
                                 "hidden tests, right after its exercise's cell")
            metadata.append(_nbgrader(solution=False, grade=True, locked=True,
                                      grade_id=check + CHECK_SUFFIX, points=points))
            open_exercise = None
        elif solutions or "points" in cell.options:
            raise ValueError(f"{here}: a cell with solution blocks or points must be "
                             "declared as an exercise (# %% exercise=\"id\" points=N)")
        else:
            metadata.append(None)
    if open_exercise is not None:
        raise ValueError(f"{where}: exercise {open_exercise!r} has no check cell")
    return metadata


def _nbgrader(**fields):
    return {**fields, "schema_version": NBGRADER_SCHEMA, "task": False}


def notebook(cells, assignment=None, where="<source>"):
    """An nbformat v4 notebook of `cells` (from `parse_cells`), without outputs, with
    nbgrader's metadata on its graded cells and `assignment` named in its metadata."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    if assignment is not None:
        nb.metadata["gatelab"] = {"assignment": assignment}
    for number, (cell, meta) in enumerate(zip(cells, nbgrader_metadata(cells, where))):
        new_cell = nbformat.v4.new_markdown_cell if cell.kind == "markdown" else \
            nbformat.v4.new_code_cell
        nb.cells.append(new_cell(cell.source, id=f"cell-{number:03d}"))
        if meta is not None:
            nb.cells[-1].metadata["nbgrader"] = meta
    return nb


def build(source):
    """The solution notebook of one source file."""
    return notebook(parse_cells(source.read_text(encoding="utf-8"), where=source.name),
                    assignment=source.stem, where=source.name)


def target(source):
    return HERE / f"{source.stem}.ipynb"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m notebooks.build",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a notebook differs from its source")
    options = parser.parse_args(argv)
    stale = []
    for source in sources():
        text = nbformat.writes(build(source)) + "\n"
        path = target(source)
        if options.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
            continue
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print(f"out of date with notebooks/src (run python -m notebooks.build): "
              f"{', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
