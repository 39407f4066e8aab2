"""Every Python block of the README runs on its own and prints what the README shows.

The README's convention: a ```python block that prints is followed by the word "prints"
and a plain ``` block holding its exact standard output; a block without one prints
nothing. Each block runs alone in a fresh interpreter, as a reader pasting it would.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from layers.registry import REGISTRY

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```(?:\n\nprints\n\n```\n(.*?)```)?", re.S)


def readme_blocks():
    text = README.read_text()
    return [pytest.param(match.group(1), match.group(2) or "",
                         id=f"line{text.count(chr(10), 0, match.start()) + 1}")
            for match in BLOCK.finditer(text)]


def test_the_readme_has_its_tour():
    assert len(readme_blocks()) >= 10


@pytest.mark.parametrize("code, printed", readme_blocks())
def test_readme_block_runs_alone_and_prints_what_it_shows(tmp_path, code, printed):
    if re.search(r"^import torch|^from torch", code, re.M):
        pytest.importorskip("torch")
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == printed


def test_readme_quickstart_is_two_commands():
    text = README.read_text()
    quickstart = text[text.index("## Quickstart"):text.index("## A short tour")]
    commands = re.findall(r"```bash\n(.*?)```", quickstart, re.S)[0].strip().splitlines()
    assert commands == ['pip install -e ".[test]" && python -m checks', "pytest"]


def test_readme_lists_every_registered_layer():
    import layers  # noqa: F401 - registers the library

    text = README.read_text()
    table = text[text.index("## The layers"):text.index("## Layout")]
    listed = set(re.findall(r"[a-z][a-z0-9_]+", table))
    missing = [name for name, spec in REGISTRY.items()
               if spec.module.startswith("layers.") and name not in listed]
    assert not missing, f"README's layer table lacks {missing}"


def layout_paths():
    """The paths in the first column of the README's Layout table; a bare file name is
    in the folder of the path before it in its cell (``layers/contract.py``, ``args.py``)."""
    text = README.read_text()
    table = text[text.index("## Layout"):text.index("## Benchmarks")]
    paths = []
    for row in re.findall(r"^\| (`.*?) \|", table, re.M):
        folder = ""
        for name in re.findall(r"`([^`]+)`", row):
            path = name if "/" in name else folder + name
            folder = path if path.endswith("/") else path.rpartition("/")[0] + "/"
            paths.append(path)
    return paths


def test_every_path_of_the_layout_table_exists():
    root = README.parent
    paths = layout_paths()
    assert {"layers/contract.py", "layers/args.py", "layers/registry.py",
            "checks/options.py", "notebooks/", "training/torch_export.py"} <= set(paths)
    missing = [path for path in paths if not (root / path).exists()]
    assert missing == []
