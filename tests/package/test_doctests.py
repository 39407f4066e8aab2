"""The Examples sections of the docstrings run, and print what they claim."""

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import checks
import graph
import layers
import training


# Modules whose examples need an optional extra: module -> the package they import.
NEEDS = {"training.data": "sklearn", "checks.torch_check": "torch",
         "training.torch_export": "torch", "layers._norm_kernels": "numba"}


def modules():
    for package in (layers, checks, graph, training):
        for info in pkgutil.iter_modules(package.__path__):
            # __main__ would run the command-line check on import.
            if info.name != "__main__":
                yield f"{package.__name__}.{info.name}"


@pytest.mark.parametrize("name", list(modules()))
def test_docstring_examples_run(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"np": np}, report=False,
                             optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed " \
                               f"in {name}"


def test_examples_exist_where_promised():
    # A sanity check that the harness finds examples at all (a silent 0 would pass).
    result = doctest.testmod(layers.gates, extraglobs={"np": np}, report=False)
    assert result.attempted >= 5
