"""The package ships whole, and editors can find its public names.

- The sdist carries what its own tests read (conftest, README, notebooks, benchmarks),
  and the license; the wheel built from it holds the four packages and the license. The
  sdist, installed into a fresh virtual environment, passes its own tests run from the
  unpacked sdist, with the packages imported from that environment, not from this
  checkout. A quick subset runs here; ``GATELAB_SDIST_FULL=1`` runs the whole suite
  (CI does, see .ci/run). Nothing is downloaded: the build and the install run without
  isolation and without dependencies, from what this environment already has.
- Every name in each package's ``__all__`` resolves statically (jedi, without importing
  anything) to the module that defines it.
"""

import ast
import importlib
import importlib.util
import os
import shutil
import site as site_module
import subprocess
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("layers", "graph", "checks", "training", "grading")
IN_AN_SDIST = (ROOT / "PKG-INFO").exists()
# What the sdist's own tests read, beyond the packages: (folder, glob) under the root.
SHIPPED = [(".", "LICENSE"), (".", "README.md"), ("tests", "**/*.py"), ("notebooks", "*.py"),
           ("notebooks", "*.ipynb"), ("notebooks", "README.md"), ("notebooks/src", "*.py"),
           ("benchmarks", "*.py"), ("docs", "*")]
# One test file for each kind of file the sdist must carry besides the packages: the
# README's examples, the planted-bug catalogue, the notebook sources (conftest: all).
# The notebook tests need the notebooks extra; without it their module skips, and pytest
# refuses test ids it did not collect.
QUICK_SUBSET = ["tests/package/test_readme.py", "tests/checks/test_mutations.py"]
if importlib.util.find_spec("nbformat") is not None:
    QUICK_SUBSET += [
        "tests/notebooks/test_notebooks.py::test_the_series_is_there",
        "tests/notebooks/test_notebooks.py::test_every_notebook_is_built_from_its_source"]
# Left out of the copy the sdist is built from: build output, caches and environments
# of this checkout.
NOT_SOURCES = shutil.ignore_patterns(".git", "*.egg-info", "build", "dist", "__pycache__",
                                     "*.py[cod]", ".pytest_cache", ".hypothesis",
                                     ".ruff_cache", ".ipynb_checkpoints", "student", ".venv",
                                     "venv", ".tox", ".nox", "_build")


def run(command, cwd, env, timeout=900):
    """Run `command`; on failure, fail with its output."""
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)
    assert done.returncode == 0, (f"{' '.join(map(str, command))} exited "
                                  f"{done.returncode}\n{done.stdout[-4000:]}\n"
                                  f"{done.stderr[-4000:]}")
    return done.stdout


def clean_env():
    """This environment without what would make a child import this checkout."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PIP_NO_INDEX="1")
    return env


def version_tuple(text):
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """Build the sdist and the wheel from it, install the sdist into a fresh virtual
    environment, unpack it; a dict of the paths."""
    if IN_AN_SDIST:
        pytest.skip("already running from an unpacked sdist")
    pytest.importorskip("build")
    try:
        setuptools_version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        pytest.skip("setuptools is not installed: cannot build without isolation")
    if version_tuple(setuptools_version) < (70, 1):
        pytest.skip(f"setuptools {setuptools_version} < 70.1 cannot build wheels itself")
    work = tmp_path_factory.mktemp("sdist")
    env = clean_env()

    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    dist = work / "dist"
    # Without --sdist or --wheel, build makes the sdist, then the wheel from the sdist.
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, source],
        work, env)
    (archive,) = dist.glob("gatelab-*.tar.gz")
    (wheel,) = dist.glob("gatelab-*.whl")

    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], work, env)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    work, env).strip())
    # The new environment reuses numpy, scipy, pytest, ... and pip itself from the
    # environment running this test. Not --system-site-packages: from inside a virtual
    # environment that gives the base interpreter's packages, not this environment's. Paths
    # listed in a .pth file come after the new environment's own site-packages, and their
    # own .pth files (an editable install of this checkout) are not processed.
    (site / "outer_environment.pth").write_text(
        "\n".join(site_module.getsitepackages()) + "\n", encoding="utf-8")
    # --ignore-installed: a gatelab visible from the system site-packages (an editable
    # install of a checkout) must neither satisfy the requirement nor be uninstalled.
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--ignore-installed", archive], work, env)

    unpacked = work / "unpacked"
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(unpacked, filter="data")
        else:
            tar.extractall(unpacked)
    (top,) = unpacked.iterdir()
    return {"work": work, "archive": archive, "wheel": wheel, "python": python,
            "site": site, "top": top, "env": env}


def check_sdist_carries_what_its_tests_read(sdist):
    top = sdist["top"]
    expected = {path.relative_to(ROOT).as_posix()
                for folder, pattern in SHIPPED for path in (ROOT / folder).glob(pattern)
                if path.is_file()}
    assert "tests/conftest.py" in expected and "LICENSE" in expected
    shipped = {path.relative_to(top).as_posix() for path in top.rglob("*") if path.is_file()}
    assert expected <= shipped, f"missing from the sdist: {sorted(expected - shipped)}"
    assert not any(name.startswith("notebooks/student/") for name in shipped)
    assert not any(name.startswith(("docs/_build/", "docs/assignments/", "docs/api/generated/"))
                   for name in shipped)
    assert (top / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


def check_wheel_holds_the_four_packages_and_the_license(sdist):
    with zipfile.ZipFile(sdist["wheel"]) as wheel:
        names = wheel.namelist()
        (info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}
        licenses = [name for name in names
                    if name.startswith(f"{info}/") and name.rsplit("/", 1)[-1] == "LICENSE"]
        assert len(licenses) == 1, names
        assert wheel.read(licenses[0]) == (ROOT / "LICENSE").read_bytes()
    top_level = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top_level == set(PACKAGES)


def origin_plugin(work):
    """A pytest plugin (its folder, its name) that writes, from every test process, the
    files the project's packages were imported from."""
    folder = work / "plugin"
    folder.mkdir(exist_ok=True)
    (folder / "gatelab_origin.py").write_text(
        "import os, sys\n\n\n"
        "def pytest_sessionfinish(session):\n"
        f"    names = {PACKAGES!r}\n"
        "    found = [f'{n} {sys.modules[n].__file__}' for n in names if n in sys.modules]\n"
        "    out = os.path.join(os.environ['GATELAB_ORIGIN'], f'{os.getpid()}.txt')\n"
        "    with open(out, 'w') as file:\n"
        "        file.write('\\n'.join(found))\n")
    return folder, "gatelab_origin"


def run_sdist_tests(sdist, selection, workers):
    """Run the unpacked sdist's tests `selection` with the environment's Python, from
    outside the unpacked tree; assert that they pass and import the installed packages."""
    work, top = sdist["work"], sdist["top"]
    folder, plugin = origin_plugin(work)
    origins = work / f"origins-{len(selection)}"
    origins.mkdir(exist_ok=True)
    env = dict(sdist["env"], PYTHONPATH=str(folder), GATELAB_ORIGIN=str(origins))
    outside = work / "cwd"
    outside.mkdir(exist_ok=True)
    # The tests are a package under the unpacked tree, whose root pytest would put first
    # on sys.path, ahead of the installed packages: appended, the installed ones win.
    out = run([sdist["python"], "-m", "pytest", "-q", "-x", "-n", workers, "-p", plugin,
               "-p", "no:cacheprovider", "--import-mode=append", "--rootdir", top,
               "-c", top / "setup.cfg", *(top / item for item in selection)],
              outside, env, timeout=3600)
    print(f"the sdist's {' '.join(selection)}: {out.strip().splitlines()[-1]}")

    imported = {}
    for record in origins.glob("*.txt"):
        for line in record.read_text().splitlines():
            name, path = line.split(" ", 1)
            imported.setdefault(name, set()).add(Path(path).resolve())
    assert "layers" in imported and "checks" in imported, imported
    site = sdist["site"].resolve()
    for name, paths in imported.items():
        assert all(path.is_relative_to(site) for path in paths), (name, paths, site)


def check_installed_packages_are_imported_from_the_environment(sdist):
    out = run([sdist["python"], "-c",
               f"import {', '.join(PACKAGES)}; "
               f"print('\\n'.join(m.__file__ for m in ({', '.join(PACKAGES)})))"],
              sdist["work"], sdist["env"])
    site = sdist["site"].resolve()
    files = [Path(line).resolve() for line in out.splitlines()]
    assert len(files) == len(PACKAGES)
    assert all(path.is_relative_to(site) for path in files), (files, site)


# One test, so that the sdist is built once however the tests are spread over workers.
@pytest.mark.slow
def test_sdist_ships_whole_and_passes_a_quick_subset_of_its_tests(sdist):
    check_sdist_carries_what_its_tests_read(sdist)
    check_wheel_holds_the_four_packages_and_the_license(sdist)
    check_installed_packages_are_imported_from_the_environment(sdist)
    run_sdist_tests(sdist, QUICK_SUBSET, workers="0")


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GATELAB_SDIST_FULL"),
                    reason="the whole sdist suite runs with GATELAB_SDIST_FULL=1 (.ci/run)")
def test_sdist_passes_its_whole_suite(sdist):
    run_sdist_tests(sdist, ["tests"], workers="auto")


# -- static resolution of the public names ---------------------------------------------

def defining_module(name, value, loaded):
    """The file of the module that defines `name` (by def, class or assignment at its top
    level) as `value`, among the `loaded` modules that hold it."""
    found = set()
    for module in loaded:
        if vars(module).get(name) is not value:
            continue
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
                found.add(module.__file__)
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found.add(module.__file__)
    assert len(found) == 1, (name, found)
    return Path(found.pop()).resolve()


def static_script(code, folder):
    """A jedi Script of `code` that resolves imports on the sys.path of this process (so
    that names resolve to the files this process imports: a checkout, or an installed
    sdist), and not in the folder of the code or a project around it."""
    jedi = pytest.importorskip("jedi")
    return jedi.Script(code, path=folder / "probe.py",
                       project=jedi.Project(folder, smart_sys_path=False),
                       environment=jedi.InterpreterEnvironment())


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_resolve_statically_to_their_defining_module(package, tmp_path):
    module = importlib.import_module(package)
    loaded = [m for key, m in list(sys.modules.items())
              if key.split(".")[0] in PACKAGES and getattr(m, "__file__", None)]
    names = list(module.__all__)
    imports = f"from {package} import (\n" + "".join(f"    {n},\n" for n in names) + ")\n"
    code = imports + "".join(f"{n}\n" for n in names)
    first = imports.count("\n") + 1
    script = static_script(code, tmp_path)
    for line, name in enumerate(names, start=first):
        definitions = script.goto(line, 0, follow_imports=True)
        assert len(definitions) == 1, (name, definitions)
        (definition,) = definitions
        assert definition.name == name
        assert definition.module_path.resolve() == \
            defining_module(name, getattr(module, name), loaded), name


@pytest.mark.parametrize("statement, kind, defined_in", [
    ("from layers import affine_forward", "function", "layers/affine.py"),
    ("from checks import check_layer", "function", "checks/checker.py"),
    ("from graph import ComputationalGraph", "class", "graph/computational_graph.py"),
    ("from training import Solver", "class", "training/solver.py"),
])
def test_editors_infer_what_a_public_name_is(statement, kind, defined_in, tmp_path):
    name = statement.rsplit(" ", 1)[1]
    script = static_script(f"{statement}\n{name}\n", tmp_path)
    (inferred,) = script.infer(2, 0)
    assert (inferred.type, inferred.name) == (kind, name)
    package = importlib.import_module(defined_in.split("/")[0])
    expected = Path(package.__file__).resolve().parent.parent / defined_in
    assert inferred.module_path.resolve() == expected
