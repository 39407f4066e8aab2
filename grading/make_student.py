"""Make the student versions of solution notebooks: every solution replaced by a stub.

A solution sits between two marker lines, nbgrader's convention::

    def softplus_forward(x):
        ### BEGIN SOLUTION: out = log(1 + exp(x)); np.logaddexp avoids the overflow
        out = np.logaddexp(0, x)
        ### END SOLUTION
        return out, x

Text after ``BEGIN SOLUTION:`` is the hint. In a code cell the block becomes, at the
marker's indentation::

        # YOUR CODE HERE
        raise NotImplementedError("out = log(1 + exp(x)); np.logaddexp avoids the overflow")

so a student notebook runs until the first exercise and stops there with the hint. In a
markdown cell (an answer to a question) the block becomes "*Your answer here.*". Hidden
tests, between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` in a check cell
(nbgrader's convention again), are removed, and outputs are cleared; cell metadata
(nbgrader's included) is kept. The stubbing is an nbconvert `Preprocessor`, usable in an
nbconvert pipeline.

Usage::

    gatelab-make-student --out DIR a.ipynb b.ipynb
    python -m notebooks.make_student            # from a checkout: notebooks/*.ipynb ->
                                                # notebooks/student/

A missing file, a file that is not a notebook or an unbalanced marker exits with code 2
and a message naming the file, before any student version is written.
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, Preprocessor

# nbgrader's grade_id of an exercise's check cell is the exercise's id and this suffix.
CHECK_SUFFIX = "_check"

BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION(?::\s*(?P<hint>.*?))?\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
BEGIN_HIDDEN = re.compile(r"^(?P<indent>\s*)### BEGIN HIDDEN TESTS\s*$")
END_HIDDEN = re.compile(r"^\s*### END HIDDEN TESTS\s*$")
DEFAULT_HINT = "replace this line with your solution"
ANSWER_STUB = "*Your answer here.*"


def solution_blocks(source, where="<cell>"):
    """The solution blocks of a cell's source, as (begin line, end line, indent, hint).

    Line numbers count from 0 and point at the marker lines.

    Raises
    ------
    ValueError
        A marker without its partner, or a block inside a block, naming `where`.
    """
    return [(begin, end, match["indent"], match["hint"] or DEFAULT_HINT)
            for begin, end, match in _blocks(source, BEGIN, END, "SOLUTION", where)]


def hidden_test_blocks(source, where="<cell>"):
    """The hidden-test blocks of a cell's source, as (begin line, end line), counted
    from 0 at the marker lines; a ValueError for unbalanced markers, as for
    `solution_blocks`."""
    return [(begin, end) for begin, end, _ in
            _blocks(source, BEGIN_HIDDEN, END_HIDDEN, "HIDDEN TESTS", where)]


def _blocks(source, begin_marker, end_marker, what, where):
    blocks, start = [], None
    for number, line in enumerate(source.splitlines()):
        begin, end = begin_marker.match(line), end_marker.match(line)
        if begin:
            if start is not None:
                raise ValueError(f"{where}, line {number + 1}: BEGIN {what} inside the "
                                 f"block opened at line {start[0] + 1}")
            start = (number, begin)
        elif end:
            if start is None:
                raise ValueError(f"{where}, line {number + 1}: END {what} without a "
                                 f"BEGIN {what}")
            blocks.append((start[0], number, start[1]))
            start = None
    if start is not None:
        raise ValueError(f"{where}, line {start[0] + 1}: BEGIN {what} is never closed")
    return blocks


def stub(source, cell_type, where="<cell>"):
    """`source` with every solution block replaced by its stub and every hidden-test
    block removed (module docstring)."""
    hidden = hidden_test_blocks(source, where)
    if hidden:
        lines = source.splitlines()
        for begin, end in reversed(hidden):
            del lines[begin:end + 1]
        source = "\n".join(lines).rstrip("\n")
    lines = source.splitlines()
    for begin, end, indent, hint in reversed(solution_blocks(source, where)):
        if cell_type == "code":
            replacement = [f"{indent}# YOUR CODE HERE",
                           f"{indent}raise NotImplementedError({hint!r})"]
        else:
            replacement = [ANSWER_STUB]
        lines[begin:end + 1] = replacement
    return "\n".join(lines)


class ClearSolutions(Preprocessor):
    """nbconvert preprocessor: replace the solution blocks of every cell by stubs and
    remove the hidden tests."""

    def preprocess_cell(self, cell, resources, index):
        where = f"{resources.get('notebook', 'notebook')}, cell {index}"
        cell.source = stub(cell.source, cell.cell_type, where)
        return cell, resources


def student_version(nb, name="notebook"):
    """A copy of the solution notebook `nb` with stubs for solutions and no outputs."""
    nb = nbformat.from_dict(nb)          # a deep copy: the solution notebook is kept
    resources = {"notebook": name}
    nb, resources = ClearOutputPreprocessor().preprocess(nb, resources)
    nb, _ = ClearSolutions().preprocess(nb, resources)
    return nb


def main(argv=None, folder=None, prog="gatelab-make-student"):
    """The command; `folder` holds the default solution notebooks (``NN_*.ipynb``) and
    their default output folder ``student/`` (without it, both must be given)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*" if folder else "+", type=Path,
                        help="solution notebooks" + (f" (default: {folder.name}/[0-9]*.ipynb)"
                                                     if folder else ""))
    parser.add_argument("--out", type=Path, default=folder / "student" if folder else None,
                        required=folder is None, help="folder for the student versions"
                        + (f" (default: {folder.name}/student)" if folder else ""))
    options = parser.parse_args(argv)
    paths = options.notebooks or sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    # Read and stub every notebook before writing any, so a bad one writes nothing.
    students = []
    for path in paths:
        destination = options.out / path.name
        try:
            if destination.resolve() == path.resolve():
                raise ValueError("the student version would overwrite its own solution")
            nb = student_version(read_notebook(path), name=path.name)
        except ValueError as exc:
            print(f"make_student: {path}: {exc}", file=sys.stderr)
            return 2
        students.append((nb, destination))
    options.out.mkdir(parents=True, exist_ok=True)
    for nb, destination in students:
        nbformat.write(nb, destination)
        print(f"wrote {destination}")
    return 0


def read_notebook(path):
    """The notebook at `path` (nbformat 4), or a ValueError saying why it is not one."""
    if not path.is_file():
        raise ValueError("no such file" if not path.exists() else "not a file")
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot be read: {exc}") from exc
    except (ValueError, TypeError, KeyError, AttributeError,
            nbformat.ValidationError) as exc:
        # nbformat raises all of these for JSON that is not a notebook.
        raise ValueError(f"not a Jupyter notebook ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    return nb


if __name__ == "__main__":
    sys.exit(main())
