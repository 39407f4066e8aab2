"""The README's Python examples run, in order, and print what the README says they print."""

import contextlib
import io
import pathlib
import re

from layers.registry import REGISTRY

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```(?:\n\nprints\n\n```\n(.*?)```)?", re.S)


def test_readme_examples_run_and_print_what_they_claim():
    blocks = BLOCK.findall(README.read_text())
    assert len(blocks) >= 4
    namespace = {"__name__": "readme_examples"}
    refused = []
    try:
        for code, printed in blocks:
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                try:
                    exec(compile(code, str(README), "exec"), namespace)
                except ValueError as exc:
                    # The tour shows one bad call on purpose; its message is in the README.
                    assert str(exc) in README.read_text().replace("\n#   ", " ")
                    refused.append(exc)
            if printed:
                assert output.getvalue() == printed
    finally:
        REGISTRY.pop("cube", None)   # registered by the README's example
    assert len(refused) == 1


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
