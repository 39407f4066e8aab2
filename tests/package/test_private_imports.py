"""No module of the library reaches into another module's private names.

A private name (``_name``) imported or read from another module is a public API under the
wrong name: the seam between packages is each module's public names (for the layer
contract, ``layers.contract.__all__``). Inside a package, its private modules
(``layers._examples``) are its own to import; a private attribute read on an object
(``graph._structure()``) counts when only another package defines that name.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("layers", "graph", "checks", "training")


def is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_names_defined(sources):
    """{private name: the packages that define it} (functions, classes, attributes)."""
    owners = {}
    for package, tree in sources:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = node.name
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                name = node.attr
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                name = node.id
            else:
                continue
            if is_private(name):
                owners.setdefault(name, set()).add(package)
    return owners


def private_reaches(package, tree, owners, own_modules):
    """The places in `tree` (a module of `package`) that use another module's private name,
    as "line: text"."""
    found, imported = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top, *rest = alias.name.split(".")
                imported.add(alias.asname or top)
                if top != package and any(is_private(part) for part in rest):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            other_package = node.level == 0 and parts[0] != package
            if other_package and any(is_private(part) for part in parts):
                found.append(f"{node.lineno}: from {node.module} import ...")
            for alias in node.names:
                imported.add(alias.asname or alias.name)
                own_module = node.level == 1 and node.module is None and \
                    alias.name in own_modules
                if is_private(alias.name) and not own_module:
                    found.append(f"{node.lineno}: from {'.' * node.level}{node.module or ''} "
                                 f"import {alias.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not is_private(node.attr):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        on_import = isinstance(node.value, ast.Name) and node.value.id in imported
        foreign = package not in owners.get(node.attr, {package})
        if on_import or foreign:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def library_sources():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path, ast.parse(path.read_text(), filename=str(path))


def own_private_modules(package):
    return {path.stem for path in (ROOT / package).glob("_*.py")}


def test_no_library_module_uses_another_modules_private_names():
    sources = list(library_sources())
    owners = private_names_defined([(package, tree) for package, _, tree in sources])
    found = {}
    for package, path, tree in sources:
        places = private_reaches(package, tree, owners, own_private_modules(package))
        if places:
            found[str(path.relative_to(ROOT))] = places
    assert found == {}


@pytest.mark.parametrize("module", ["mutations.py", "torch_mutations.py", "vs_gradcheck.py"])
def test_the_planted_bug_catalogues_and_their_runner_use_only_public_names(module):
    path = ROOT / "benchmarks" / module
    tree = ast.parse(path.read_text(), filename=str(path))
    owners = private_names_defined([(package, tree) for package, _, tree in library_sources()])
    assert private_reaches("benchmarks", tree, owners, set()) == []


@pytest.mark.parametrize("source, place", [
    ("from .checker import _as_list\n", "1: from .checker import _as_list"),
    ("from layers.contract import _ABSENT\n", "1: from layers.contract import _ABSENT"),
    ("from layers._examples import normal\n", "1: from layers._examples import ..."),
    ("import layers._windows\n", "1: import layers._windows"),
    ("from layers import contract\ncontract._ABSENT\n", "2: contract._ABSENT"),
    ("def f(graph):\n    return graph._plan\n", "2: graph._plan"),
])
def test_the_scan_finds_each_kind_of_reach(source, place):
    owners = {"_plan": {"graph"}, "_ABSENT": {"layers"}}
    assert private_reaches("checks", ast.parse(source), owners, set()) == [place]


def test_the_scan_allows_what_a_package_owns():
    source = ("from . import _numerics\nfrom ._examples import normal\n"
              "class A:\n    def f(self):\n        return self._x, _numerics.sigmoid\n")
    owners = {"_x": {"layers"}}
    assert private_reaches("layers", ast.parse(source), owners, {"_numerics"}) == []
