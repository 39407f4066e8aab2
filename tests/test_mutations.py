"""Mutation testing of the checker: planted backward bugs are caught, correct layers pass.

A fast subset of ``benchmarks/bench_checker.py``: every kind of bug in the catalogue
(`benchmarks/mutations.py`) planted in a few layers that between them give every kind a
place, in float64 and float32; and correct layers over 20 seeds.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from checks import check_layer  # noqa: E402
from layers import (relu_backward, relu_forward, softmax_backward,  # noqa: E402
                    softmax_forward)
from layers.registry import REGISTRY  # noqa: E402
from mutations import CATALOGUE, Site, planted  # noqa: E402

# Between them these layers host every kind of bug in the catalogue.
SUBSET = ("affine", "batchnorm", "conv", "dropout", "layernorm", "multiply", "sigmoid",
          "softmax_loss", "word_embedding")
CORRECT = ("affine", "batchnorm", "layernorm", "softmax_loss", "sigmoid", "tanh",
           "multiply", "conv", "lstm_step")


def run(bug, seed=0):
    return check_layer(bug.forward, bug.backward, *bug.site.args, name=bug.label, seed=seed,
                       **bug.site.kwargs)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_kind_of_planted_bug_is_caught(dtype):
    left_out, missed, caught = {}, [], set()
    for mutation, bug in planted(dtype, 0, SUBSET, left_out):
        report = run(bug)
        if not bug.effective:
            continue
        if report.ok:
            missed.append(f"{mutation.kind}: {bug.label}")
        elif not report.problems:
            caught.add(mutation.kind)
    assert not left_out
    assert not missed
    assert caught == {m.kind for m in CATALOGUE}


@pytest.mark.parametrize("name", CORRECT)
def test_correct_layers_raise_no_false_alarm_over_20_seeds(name):
    spec = REGISTRY[name]
    for dtype in ("float64", "float32"):
        for seed in range(20):
            example = spec.example(np.random.default_rng(seed), dtype)
            report = check_layer(spec.forward, spec.backward, *example.args, seed=seed,
                                 **example.kwargs)
            assert report.ok, f"{dtype}, seed {seed}:\n{report}"


def kind(name):
    return next(m for m in CATALOGUE if m.kind == name)


def test_zeroing_an_element_that_is_zero_plants_nothing():
    x = -np.linspace(1, 2, 6).reshape(2, 3)  # relu's gradient is 0 everywhere
    site = Site.build("relu", "relu", relu_forward, relu_backward, (x,), {})
    [bug] = kind("element zeroed").bugs(site)
    report = run(bug)
    assert report.ok and bug.calls == 1
    assert bug.identical and not bug.effective


def test_doubling_rounding_noise_plants_nothing():
    # softmax(x + b) does not depend on a per-row shift b: db is 0, computed as rounding.
    def shifted_forward(x, b):
        return softmax_forward(x + b)

    def shifted_backward(dout, cache):
        dx = softmax_backward(dout, cache)
        return dx, dx.sum(axis=1, keepdims=True)

    rng = np.random.default_rng(0)
    args = (rng.standard_normal((3, 4)), rng.standard_normal((3, 1)))
    site = Site.build("shifted softmax", "softmax", shifted_forward, shifted_backward, args,
                      {})
    bug = kind("factor 2").bugs(site)[1]
    assert bug.variant == "db"
    run(bug)
    assert not bug.identical and not bug.effective
    assert bug.change < 1e-14


def test_fan_out_composites_sum_both_uses():
    """The composites' correct backward (multiply(x, x), x + sigmoid(x)) passes."""
    sites_seen = set()
    for _, bug in planted("float64", 0, ("multiply", "sigmoid")):
        if bug.kind == "fan-out overwritten":
            sites_seen.add(bug.site.name)
    assert sites_seen == {"multiply(x, x)", "x + sigmoid(x)"}
