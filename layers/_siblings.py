"""Refuse to start when a user's file hides one of gatelab's packages.

gatelab's packages have top-level names (``layers``, ``graph``, ``checks``, ``training``),
and Python looks in the working directory (or the script's folder) before the installed
packages. A student's own ``layers.py`` there therefore replaces gatelab's ``layers`` for
every package that imports it, and the failure surfaces deep inside, as
``No module named 'layers.registry'; 'layers' is not a package``. Each package that uses
a sibling calls `require_own_siblings` before importing it, and gets an ImportError naming
the file in the way and how to move it.

This module uses only the standard library, and the packages load it by its path
(``runpy.run_path``), not by an import name: any name it were imported by could itself be
hidden by a user's file.
"""

import importlib.util
import os
import sys
from pathlib import Path


def require_own_siblings(package_file, *names):
    """Raise ImportError unless each named package is the one installed with gatelab.

    Parameters
    ----------
    package_file : str
        ``__file__`` of the calling package's ``__init__.py``; gatelab's packages sit side
        by side in the folder that holds it.
    *names : str
        Top-level names of the sibling packages the caller imports (``"layers"``, ...).

    Raises
    ------
    ImportError
        When one of them resolves to something else (a module or folder of that name
        earlier on ``sys.path``), naming the caller, what is in the way and the fix.
    """
    home = Path(package_file).resolve().parent.parent
    caller = Path(package_file).resolve().parent.name
    for name in names:
        found = _location(name)
        if found is not None and found != home / name:
            raise ImportError(_message(caller, name, found))


def _location(name):
    """The folder of the package (or the file of the module) that ``import name`` gets."""
    try:
        spec = importlib.util.find_spec(name)
    except ValueError:
        # Already imported without a spec (a module set up by hand): its file decides.
        spec = None
        origin = getattr(sys.modules.get(name), "__file__", None)
    else:
        origin = spec.origin if spec is not None else None
    if spec is not None and spec.submodule_search_locations:
        if origin in (None, "namespace"):
            # A folder without __init__.py (a namespace package) is a package too.
            return Path(list(spec.submodule_search_locations)[0]).resolve()
        return Path(origin).resolve().parent
    return Path(origin).resolve() if origin else None


def _message(caller, name, found):
    here = Path.cwd().resolve()
    shown = f"./{found.relative_to(here)}" if found.is_relative_to(here) else str(found)
    is_folder = found.is_dir()
    if is_folder:
        shown += os.sep
    renamed = f"my_{name}" + (os.sep if is_folder else found.suffix)
    what = "folder" if is_folder else "file"
    where = ("the working directory comes before installed packages"
             if found.parent == here else "it comes earlier on sys.path")
    return (
        f"{caller}: gatelab's package '{name}' is hidden by the {what} {shown}, which Python "
        f"finds first ({where}). Rename {shown}, e.g. to {renamed}, and import your code "
        f"from the new name: a module of your own must not be named after a gatelab "
        f"package (layers, graph, checks, training)."
    )
