"""Mutation testing of the checker: planted backward bugs are caught, correct layers pass.

A fast subset of ``benchmarks/bench_checker.py``: every kind of bug in the catalogue
(``benchmarks/mutations.py``) planted in a few layers that between them give every kind
a place, in float64 and float32; and correct layers over 20 seeds.
"""

import doctest

import numpy as np
import pytest

from checks import check_layer
from layers import relu_backward, relu_forward, softmax_backward, softmax_forward
from layers.registry import REGISTRY
import mutations
from mutations import CATALOGUE, Site, planted

# Between them these layers host every kind of bug in the catalogue.
SUBSET = ("affine", "batchnorm", "conv", "dropout", "layernorm", "multiply", "sigmoid",
          "softmax_loss", "word_embedding")
CORRECT = ("affine", "batchnorm", "layernorm", "softmax_loss", "sigmoid", "tanh",
           "multiply", "conv", "lstm_step")


def run(bug, seed=0):
    return check_layer(bug.forward, bug.backward, *bug.site.args, name=bug.label, seed=seed,
                       **bug.site.kwargs)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_kind_of_planted_bug_is_judged_as_it_must_be(dtype):
    left_out, wrong, judged = {}, [], set()
    for mutation, bug in planted(dtype, 0, SUBSET, left_out):
        report = run(bug)
        # The catalogue's own machinery must work on every layer's cache.
        assert not any(" raised " in p for p in report.problems), (bug.label, report.problems)
        if not bug.effective:
            continue
        if mutation.judged_right(report):
            judged.add(mutation.kind)
        else:
            wrong.append(f"{mutation.kind}: {bug.label}:\n{report}")
    assert not left_out
    assert not wrong, "\n".join(wrong)
    assert judged == {m.kind for m in CATALOGUE}


@pytest.mark.parametrize("name", CORRECT)
def test_correct_layers_raise_no_false_alarm_over_20_seeds(name):
    spec = REGISTRY[name]
    for dtype in ("float64", "float32"):
        for seed in range(20):
            example = spec.example(np.random.default_rng(seed), dtype)
            report = check_layer(spec.forward, spec.backward, *example.args, seed=seed,
                                 **example.kwargs)
            assert report.ok and not report.warnings, f"{dtype}, seed {seed}:\n{report}"


def kind(name):
    return next(m for m in CATALOGUE if m.kind == name)


def test_zeroing_an_element_that_is_zero_plants_nothing():
    x = -np.linspace(1, 2, 6).reshape(2, 3)  # relu's gradient is 0 everywhere
    site = Site.build("relu", "relu", relu_forward, relu_backward, (x,), {})
    [bug] = kind("element zeroed").bugs(site)
    report = run(bug)
    assert report.ok and bug.calls == 3   # compared, called again, called with -2 dout
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


def test_a_cache_of_argument_references_hosts_no_cache_bug():
    # affine's cache is (x, w, b): writing into it would write into the site's arguments.
    site = Site.of(REGISTRY["affine"])
    assert kind("cache modified").bugs(site) == []
    assert kind("cache modified").bugs(Site.of(REGISTRY["sigmoid"]))


def test_the_new_misbehaviours_are_reported_by_name():
    site = Site.of(REGISTRY["sigmoid"])
    [written] = kind("dout written in place").bugs(site)
    report = run(written)
    assert report.ok and written.wrote
    assert "backward wrote into its upstream gradient dout in place" in report.warnings[0]
    [cached] = kind("cache modified").bugs(site)
    report = run(cached)
    assert report.ok and cached.wrote
    # The catalogue is user code to the checker: the line that wrote is named.
    where = "backward modified its cache at cache.inner (at "
    assert report.warnings[0].startswith(where)
    assert "mutations.py:" in report.warnings[0]
    assert ", in _add_one_to_cache: " in report.warnings[0]
    [nonlinear] = kind("not linear in dout").bugs(site)
    assert any("backward is not linear in dout" in p for p in run(nonlinear).problems)


def test_the_catalogues_docstring_example_runs():
    result = doctest.testmod(mutations, extraglobs={"np": np}, report=False)
    assert result.attempted >= 2
    assert result.failed == 0
