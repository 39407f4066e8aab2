"""Sphinx configuration of gatelab's documentation site.

Build, from the repository root (offline, warnings as errors)::

    pip install -e ".[docs]"
    python -m sphinx -W -b html docs docs/_build/html

The API reference is generated from the docstrings (autosummary, numpydoc), one page per
name in each package's ``__all__``. The assignment notebooks are rendered as students get
them: their student versions are made from the solution notebooks when the build starts
with the outputs of the completed notebooks (`make_assignment_pages`); the pages with code
(getting started, the worked examples) are executed by myst-nb. Every output shown is
real, and an error that no cell is marked to expect fails the build. The other pages'
Python blocks, each followed by what it prints, are run by tests/package/test_readme.py.
"""

import hashlib
import importlib
import inspect
import os
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))          # worked_examples.py, imported by a page
sys.path.insert(0, str(ROOT))          # the notebooks package, which is not installed

from nbclient import NotebookClient  # noqa: E402
from notebooks.make_student import (  # noqa: E402
    hidden_test_blocks, read_notebook, student_version)

project = "gatelab"
author = "the gatelab authors"
copyright = "gatelab authors, MIT License"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
html_theme = "furo"
html_title = "gatelab"

# The API reference: a page per public name, the names taken from each package's __all__.
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_default_options = {"member-order": "bysource"}


def _module_data(package):
    """The names in a package's __all__ that are data (autosummary finds only the
    documented attributes a module defines itself)."""
    module = importlib.import_module(package)
    return [name for name in module.__all__
            if not callable(getattr(module, name)) and not inspect.ismodule(getattr(module, name))]


autosummary_context = {"module_data": {package: _module_data(package)
                                       for package in ("layers", "graph", "checks", "training")}}
numpydoc_show_class_members = False    # the class template lists the members itself
numpydoc_class_members_toctree = False

# The kernels that run the pages draw figures inline, as JupyterLab does, even when the
# build runs under a non-interactive backend (CI sets MPLBACKEND=Agg).
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

# Pages and notebooks run their code when the site is built; a cell tagged
# raises-exception shows its error on purpose, and any other error fails the build.
nb_execution_mode = "cache"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
# A cell's standard output is shown as one block however the kernel split it in time (a
# print before a slow call arrives as a message of its own).
nb_merge_streams = True
nb_execution_excludepatterns = ["assignments/*"]      # run by make_assignment_pages
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

ASSIGNMENTS = HERE / "assignments"
LIBRARY = ("layers", "graph", "checks", "training")


def make_assignment_pages():
    """Write the student version of every assignment notebook, with outputs, to docs/.

    A page shows the student's notebook (exercises as stubs that raise NotImplementedError
    with their hint, no hidden tests) with the outputs of the completed notebook: the
    solution notebook, less its hidden tests, run top to bottom here, cell for cell (the
    student version has the same cells). Any error in that run fails the build. A page is
    run again only when its notebook or the library's code has changed.
    """
    ASSIGNMENTS.mkdir(exist_ok=True)
    library = hashlib.sha256()
    for path in sorted(p for package in LIBRARY for p in (ROOT / package).rglob("*.py")):
        library.update(path.read_bytes())
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        key = hashlib.sha256(path.read_bytes() + library.digest()).hexdigest()
        destination = ASSIGNMENTS / path.name
        if destination.exists() and key == nbformat.read(
                destination, as_version=4).metadata.get("gatelab_docs_key"):
            continue
        solution = read_notebook(path)
        student = student_version(solution, name=path.name)
        run = nbformat.from_dict(solution)
        for cell in run.cells:
            cell.source = without_hidden_tests(cell.source, f"{path.name}, {cell.get('id')}")
        NotebookClient(run, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT)}}).execute()
        for shown, ran in zip(student.cells, run.cells, strict=True):
            if shown.cell_type == "code":
                shown.outputs, shown.execution_count = ran.outputs, ran.execution_count
        student.metadata["gatelab_docs_key"] = key
        nbformat.write(student, destination)


def without_hidden_tests(source, where):
    lines = source.splitlines()
    for begin, end in reversed(hidden_test_blocks(source, where)):
        del lines[begin:end + 1]
    return "\n".join(lines)


make_assignment_pages()
