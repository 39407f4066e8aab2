"""Every Python block of the README and of the documentation's Markdown pages runs on its
own and prints what the page shows.

The convention: a ```python block that prints is followed by the word "prints" and a
plain ``` block holding its exact standard output; a block without one prints nothing.
Each block runs alone in a fresh interpreter, as a reader pasting it would. The pages
that myst-nb executes when the site is built (``file_format: mystnb``) hold code cells
instead, and the site's build runs them (tests/package/test_docs.py checks their output).
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from layers.registry import REGISTRY

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```(?:\n\nprints\n\n```\n(.*?)```)?", re.S)
# The pages whose examples are plain Markdown blocks with their output written out.
PAGES = [README] + sorted(page for page in (ROOT / "docs").glob("*.md")
                          if "file_format: mystnb" not in page.read_text())
LAYER_TABLE = ROOT / "docs" / "api" / "index.md"


def blocks_of(page):
    text = page.read_text()
    return [(match.group(1), match.group(2) or "",
             f"{page.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}")
            for match in BLOCK.finditer(text)]


def example_blocks():
    return [pytest.param(code, printed, id=where)
            for page in PAGES for code, printed, where in blocks_of(page)]


def test_the_readme_has_its_short_tour():
    assert len(blocks_of(README)) == 3


@pytest.mark.parametrize("name, count", [("rules.md", 1), ("compatibility.md", 1),
                                         ("torch.md", 2)])
def test_the_pages_have_their_examples(name, count):
    assert ROOT / "docs" / name in PAGES
    assert len(blocks_of(ROOT / "docs" / name)) == count


@pytest.mark.parametrize("code, printed", example_blocks())
def test_block_runs_alone_and_prints_what_it_shows(tmp_path, code, printed):
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


def test_the_layer_table_lists_every_registered_layer():
    import layers  # noqa: F401 - registers the library

    text = LAYER_TABLE.read_text()
    table = text[text.index("## The layers"):]
    listed = set(re.findall(r"[a-z][a-z0-9_]+", table))
    missing = [name for name, spec in REGISTRY.items()
               if spec.module.startswith("layers.") and name not in listed]
    assert not missing, f"the layer table of {LAYER_TABLE.relative_to(ROOT)} lacks {missing}"


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
