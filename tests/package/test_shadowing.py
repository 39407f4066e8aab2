"""A user's module named after a gatelab package stops the import with its name and the fix.

Each case runs a fresh interpreter in a folder holding the user's file, as a student
would run a script next to their own ``layers.py``.
"""

import subprocess
import sys

import pytest


def run_in(folder, code):
    return subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("hidden, imported", [
    ("layers", "graph"), ("layers", "checks"), ("layers", "training"),
    ("graph", "checks"), ("graph", "training"),
])
def test_a_file_named_after_a_sibling_is_named_with_the_fix(tmp_path, hidden, imported):
    (tmp_path / f"{hidden}.py").write_text("def my_forward(x):\n    return x, None\n")
    result = run_in(tmp_path, f"import {imported}")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"ImportError: {imported}: gatelab's package '{hidden}' is hidden by the file "
        f"./{hidden}.py, which Python finds first (the working directory comes before "
        f"installed packages). Rename ./{hidden}.py, e.g. to my_{hidden}.py, and import your "
        f"code from the new name: a module of your own must not be named after a gatelab "
        f"package (layers, graph, checks, training).")
    assert "is not a package" not in result.stderr


def test_python_m_checks_says_it_too(tmp_path):
    (tmp_path / "layers.py").write_text("")
    result = subprocess.run([sys.executable, "-m", "checks"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "ImportError: checks: gatelab's package 'layers' is hidden by the file ./layers.py")


def test_a_folder_named_after_a_sibling_is_named_too(tmp_path):
    (tmp_path / "layers").mkdir()
    (tmp_path / "layers" / "__init__.py").write_text("")
    result = run_in(tmp_path, "from checks import check_layer")
    assert result.returncode == 1
    assert "hidden by the folder ./layers/" in result.stderr
    assert "Rename ./layers/, e.g. to my_layers/," in result.stderr


def test_a_folder_without_init_hides_gatelab_only_where_python_lets_it(tmp_path):
    # A folder without __init__.py is a namespace package, which Python uses only when no
    # regular package of that name is on sys.path: an installed gatelab wins over it,
    # while an editable install (found by a finder after the path) loses to it. Either
    # way the user gets gatelab or the clear error, never "'layers' is not a package".
    (tmp_path / "layers").mkdir()
    result = run_in(tmp_path, "from checks import check_layer\nprint(check_layer.__name__)")
    if result.returncode == 0:
        assert result.stdout == "check_layer\n"
    else:
        assert "hidden by the folder ./layers/" in result.stderr
        assert "is not a package" not in result.stderr


def test_the_users_module_imported_first_is_found_as_well(tmp_path):
    # The user's module is already in sys.modules when gatelab's package is imported.
    (tmp_path / "graph.py").write_text("VALUE = 1\n")
    result = run_in(tmp_path, "import graph\nprint(graph.VALUE)\nimport training")
    assert result.stdout == "1\n"
    assert "ImportError: training: gatelab's package 'graph' is hidden by the file " \
           "./graph.py" in result.stderr


def test_a_file_elsewhere_on_the_path_is_shown_by_its_full_path(tmp_path):
    elsewhere, work = tmp_path / "lib", tmp_path / "work"
    elsewhere.mkdir()
    work.mkdir()
    (elsewhere / "layers.py").write_text("")
    result = run_in(work, f"import sys\nsys.path.insert(0, {str(elsewhere)!r})\n"
                              "import graph")
    assert (f"hidden by the file {elsewhere / 'layers.py'}, which Python finds first (it "
            f"comes earlier on sys.path)") in result.stderr


def test_files_that_hide_nothing_used_leave_gatelab_working(tmp_path):
    # training does not import checks, and my_layers.py is the rename the message suggests.
    for name in ("checks.py", "my_layers.py"):
        (tmp_path / name).write_text("")
    result = run_in(tmp_path, "import layers, graph, training\n"
                              "print(training.Solver.__module__, graph.Sequential.__module__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "training.solver graph.sequential\n"
