"""float32 in, float32 all the way: no float64 array or scalar inside a float32 layer call.

The contract gives every gradient its argument's dtype (`finish_gradients`), so a float64
temporary inside a float32 layer would not show in the output dtypes: it costs twice the
memory traffic and silently rounds differently. A tracer watches every variable of the
functions of the layer modules (and the training models) while a float32 forward and
backward run, and every value they return.
"""

import sys

import numpy as np
import pytest

import layers
from layers import _numerics, _windows, conv, losses, lstm, pooling, temporal
from training import models

WATCHED = (conv, _windows, lstm, temporal, losses, _numerics, pooling, models)
F32 = np.float32


def float64_values(run, also=()):
    """Run `run()` under a tracer; return the (function, variable) of every float64
    ndarray or NumPy float64 scalar held by a local variable of, or returned by, a
    function of the WATCHED modules or of the files `also`."""
    files = {module.__file__ for module in WATCHED} | set(also)
    found = set()

    def local(frame, event, arg):
        held = list(frame.f_locals.items())
        if event == "return":
            held.append(("<return>", arg))
        for name, value in held:
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, (np.ndarray, np.generic)) and item.dtype == np.float64:
                    found.add((frame.f_code.co_name, name))
        return local

    def enter(frame, event, arg):
        return local if frame.f_code.co_filename in files else None

    previous = sys.gettrace()
    sys.settrace(enter)
    try:
        run()
    finally:
        sys.settrace(previous)
    return sorted(found)


def normal(rng, *shape):
    return rng.standard_normal(shape).astype(F32)


def run_pair(forward, backward, *args):
    out, cache = forward(*args)
    grads = backward(np.ones_like(out), cache)
    for grad in grads if isinstance(grads, tuple) else (grads,):
        assert grad.dtype == F32
    assert out.dtype == F32


def conv_calls(rng):
    x, w, b = normal(rng, 2, 3, 9, 9), normal(rng, 4, 3, 3, 3), normal(rng, 4)
    for param in ({"stride": 1, "pad": 1}, {"stride": 2, "pad": 1}):
        run_pair(layers.conv_forward, layers.conv_backward, x, w, b, param)
    run_pair(layers.max_pool_forward, layers.max_pool_backward, x[:, :, :8, :8],
             {"pool_height": 2, "pool_width": 2, "stride": 2})


def lstm_calls(rng):
    run_pair(layers.lstm_forward, layers.lstm_backward, normal(rng, 3, 4, 5),
             normal(rng, 3, 6), normal(rng, 5, 24), normal(rng, 6, 24), normal(rng, 24))


def temporal_calls(rng):
    x = normal(rng, 2, 3, 7)
    run_pair(layers.temporal_affine_forward, layers.temporal_affine_backward, x,
             normal(rng, 7, 4), normal(rng, 4))
    loss, dx = layers.temporal_softmax_loss(x, rng.integers(7, size=(2, 3)),
                                            rng.random((2, 3)) < 0.7)
    assert loss.dtype == F32 and dx.dtype == F32


def loss_calls(rng):
    labels = rng.integers(4, size=5)
    for loss_function in (layers.softmax_loss, layers.svm_loss):
        loss, dx = loss_function(normal(rng, 5, 4), labels)
        assert loss.dtype == F32 and dx.dtype == F32
    for loss_function in (layers.sigmoid_cross_entropy_loss, layers.mse_loss):
        loss, dx = loss_function(normal(rng, 5, 4), (rng.random((5, 4)) < 0.5).astype(F32))
        assert loss.dtype == F32 and dx.dtype == F32


def model_calls(rng):
    nets = [
        (models.ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, hidden_dim=10,
                                  reg=0.1, dtype=F32), normal(rng, 3, 3, 8, 8)),
        (models.FullyConnectedNet([6, 6], input_dim=12, normalization="batchnorm",
                                  reg=0.1, dtype=F32), normal(rng, 4, 12)),
        (models.FullyConnectedNet([6, 6], input_dim=12, normalization="layernorm",
                                  dropout=0.5, seed=1, reg=0.1, dtype=F32),
         normal(rng, 4, 12)),
    ]
    for model, x in nets:
        loss, grads = model.loss(x, rng.integers(10, size=x.shape[0]))
        assert loss.dtype == F32
        assert all(grad.dtype == F32 for grad in grads.values())


@pytest.mark.parametrize("calls", [conv_calls, lstm_calls, temporal_calls, loss_calls,
                                   model_calls])
def test_float32_calls_hold_no_float64(calls):
    # The conv's scratch buffers outlive a call: float64 ones left by earlier calls would
    # be seen where the conv looks its buffers over.
    layers.clear_scratch()
    assert float64_values(lambda: calls(np.random.default_rng(0))) == []


def test_tracer_sees_a_float64_temporary(monkeypatch):
    # The LSTM with a sigmoid that computes in float64 and casts back: every returned
    # dtype is right, the temporary is not.
    exact = _numerics.sigmoid

    def widened(x):
        wide = np.asarray(x, np.float64)
        return exact(wide).astype(x.dtype)
    monkeypatch.setattr(lstm, "sigmoid", widened)
    found = float64_values(lambda: lstm_calls(np.random.default_rng(0)), also=[__file__])
    assert ("widened", "wide") in found
    assert ("sigmoid", "<return>") in found
