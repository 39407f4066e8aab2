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
around a cell are dropped. An IPython magic is written commented out, as jupytext does,
so that the sources stay valid Python for linters and ast-based tools: the code line
``# %matplotlib inline`` becomes ``%matplotlib inline`` in the notebook. The notebooks
are written without outputs and with cell ids numbered in order, so building twice gives
the same bytes and the ``.ipynb`` files in git stay small and diffable.

Usage, from the repository root::

    python -m notebooks.build            # write notebooks/*.ipynb
    python -m notebooks.build --check    # exit 1 if one is out of date with its source
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"

CELL_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?\s*$")
COMMENTED_MAGIC = re.compile(r"^# (?P<magic>%[A-Za-z]\w*\b.*)$")
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


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
    list of (str, str)
        kind is "code" or "markdown"; source has no leading or trailing blank lines.
    """
    cells, kind, lines = [], None, []
    for number, line in enumerate(text.splitlines(), start=1):
        marker = CELL_MARKER.match(line)
        if marker:
            if kind is not None:
                cells.append((kind, _cell_source(kind, lines)))
            kind, lines = ("markdown" if marker["markdown"] else "code"), []
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
        cells.append((kind, _cell_source(kind, lines)))
    return cells


def _cell_source(kind, lines):
    if kind == "markdown":
        lines = [line[2:] if line.startswith("# ") else line[1:] for line in lines]
    else:
        lines = [COMMENTED_MAGIC.sub(r"\g<magic>", line) for line in lines]
    return "\n".join(lines).strip("\n")


def notebook(cells):
    """An nbformat v4 notebook of `cells` (from `parse_cells`), without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for number, (kind, source) in enumerate(cells):
        new_cell = nbformat.v4.new_markdown_cell if kind == "markdown" else \
            nbformat.v4.new_code_cell
        nb.cells.append(new_cell(source, id=f"cell-{number:03d}"))
    return nb


def build(source):
    """The solution notebook of one source file."""
    return notebook(parse_cells(source.read_text(encoding="utf-8"), where=source.name))


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
