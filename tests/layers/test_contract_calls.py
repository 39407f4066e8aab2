"""How many Python calls the contract adds to a layer call, counted with sys.setprofile.

A reader follows ``affine_forward(x, w, b)`` into its maths and back through a handful of
frames; these counts keep it so. Only Python-level calls are counted (C functions such
as ``np.asarray`` are not), comprehensions included, as the profiler reports them.
"""

import copy
import os
import sys

import numpy as np
import pytest

import layers
from layers import contract
from layers.registry import REGISTRY

CONTRACT_FILE = os.path.abspath(contract.__file__)


def python_calls(func, *args, **kwargs):
    """(result, [(function name, file)]) of every Python call made while `func` runs."""
    calls = []

    def record(frame, event, _):
        if event == "call":
            calls.append((frame.f_code.co_name, os.path.abspath(frame.f_code.co_filename)))

    sys.setprofile(record)
    try:
        result = func(*args, **kwargs)
    finally:
        sys.setprofile(None)
    return result, calls


def test_affine_forward_is_ten_calls_and_its_backward_at_most_six():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), np.zeros(5)
    (out, cache), forward_calls = python_calls(layers.affine_forward, x, w, b)
    names = [name for name, _ in forward_calls]
    assert len(names) <= 10, names
    # One frame of the contract between the caller and the layer's own body.
    assert names[:2] == ["layer_forward", "affine_forward"], names
    grads, backward_calls = python_calls(layers.affine_backward,
                                         rng.standard_normal(out.shape), cache)
    names = [name for name, _ in backward_calls]
    assert len(names) <= 6, names
    assert [g.shape for g in grads] == [x.shape, w.shape, b.shape]


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "tanh", "sigmoid", "silu", "exp", "log",
                                  "power", "temporal_affine"])
def test_small_layers_stay_within_the_same_budget(name):
    spec = REGISTRY[name]
    ex = spec.example(np.random.default_rng(0), np.float64)
    result, forward_calls = python_calls(spec.forward, *ex.args, **ex.kwargs)
    assert len(forward_calls) <= 10, forward_calls
    douts = [np.ones(np.shape(out)) for out in result[:-1]]
    _, backward_calls = python_calls(spec.backward, *douts, result[-1])
    assert len(backward_calls) <= 6, backward_calls


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_contract_adds_one_frame_to_a_forward_and_two_plus_one_per_output_to_a_backward(
        name):
    # Float64 arrays, the common case: no promotion. A composite's inner layers add their
    # own frames; only the outermost call is counted here.
    spec = REGISTRY[name]
    ex = spec.example(np.random.default_rng(0), np.float64)
    args, kwargs = copy.deepcopy(ex.args), copy.deepcopy(ex.kwargs)
    result, forward_calls = python_calls(spec.forward, *args, **kwargs)
    assert forward_calls[0] == ("layer_forward", CONTRACT_FILE)
    assert "promote" not in [function for function, _ in forward_calls]
    douts = [np.ones(np.shape(out)) for out in result[:-1]]
    _, backward_calls = python_calls(spec.backward, *douts, result[-1])
    own = [c[0] for c in backward_calls[:len(douts) + 1]]
    assert own == ["layer_backward"] + ["upstream"] * len(douts)
    assert backward_calls[-1] == ("finish_gradients", CONTRACT_FILE)
