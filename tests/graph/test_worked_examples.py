"""The worked examples of the backpropagation notes, by chaining gates by hand.

Each circuit runs forward gate by gate, then backward in reverse order, each backward
taking the gradient of its gate's output. Where a value feeds two gates (fan-out), the
gradients from the two paths are added, as the notes say they must be.
"""

import numpy as np
import pytest

from layers import (add_backward, add_forward, divide_backward, divide_forward,
                    exp_backward, exp_forward, maximum_backward, maximum_forward,
                    multiply_backward, multiply_forward, sigmoid_backward, sigmoid_forward,
                    softmax_backward, softmax_forward)

RTOL = 1e-9  # the source gives 10 significant digits


def scalar(value):
    """A variable of the circuit: a 0-d float64 array, which gets a gradient."""
    return np.array(value, dtype=np.float64)


def test_item_1_add_then_multiply():
    # f(x, y, z) = (x + y) * z at x = -2, y = 5, z = -4.
    x, y, z = scalar(-2.0), scalar(5.0), scalar(-4.0)
    q, add_cache = add_forward(x, y)
    f, mul_cache = multiply_forward(q, z)
    assert (q, f) == (3.0, -12.0)

    dq, dz = multiply_backward(1.0, mul_cache)  # df/df = 1
    dx, dy = add_backward(dq, add_cache)
    assert (dz, dq) == (3.0, -4.0)  # mul swaps: df/dz = q, df/dq = z
    assert (dx, dy) == (-4.0, -4.0)  # add distributes dq unchanged


def neuron_dot(w, x):
    """w0 x0 + w1 x1 + w2 through multiply and add gates; returns (dot, backward)."""
    w0x0, mul0 = multiply_forward(w[0], x[0])
    w1x1, mul1 = multiply_forward(w[1], x[1])
    partial_sum, add0 = add_forward(w0x0, w1x1)
    dot, add1 = add_forward(partial_sum, w[2])

    def backward(ddot):
        dpartial, dw2 = add_backward(ddot, add1)
        dw0x0, dw1x1 = add_backward(dpartial, add0)
        dw0, dx0 = multiply_backward(dw0x0, mul0)
        dw1, dx1 = multiply_backward(dw1x1, mul1)
        return np.array([dw0, dw1, dw2]), np.array([dx0, dx1])

    return dot, backward


W = [scalar(2.0), scalar(-3.0), scalar(-3.0)]
X = [scalar(-1.0), scalar(-2.0)]
F = 0.7310585786
LOCAL = 0.1966119332  # (1 - f) f
DX = [0.3932238665, -0.5898357997]
DW = [-0.1966119332, -0.3932238665, 0.1966119332]


def test_item_2_sigmoid_neuron_from_primitive_gates():
    # f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) at w = [2, -3, -3], x = [-1, -2].
    dot, dot_backward = neuron_dot(W, X)
    negated, neg_cache = multiply_forward(dot, -1.0)
    exponential, exp_cache = exp_forward(negated)
    denominator, plus_cache = add_forward(exponential, 1.0)
    f, reciprocal_cache = divide_forward(1.0, denominator)
    assert dot == 1.0
    np.testing.assert_allclose(f, F, rtol=RTOL)

    # The constants (-1, 1, and the numerator 1) get no gradient: each backward below
    # returns the one gradient of its variable input.
    ddenominator = divide_backward(1.0, reciprocal_cache)
    dexponential = add_backward(ddenominator, plus_cache)
    dnegated = exp_backward(dexponential, exp_cache)
    ddot = multiply_backward(dnegated, neg_cache)
    np.testing.assert_allclose(ddot, LOCAL, rtol=RTOL)

    dw, dx = dot_backward(ddot)
    np.testing.assert_allclose(dx, DX, rtol=RTOL)
    np.testing.assert_allclose(dw, DW, rtol=RTOL)


def test_item_2_sigmoid_gate_merges_the_four_gates():
    # One sigmoid gate replaces multiply-by--1, exp, add-1 and reciprocal: same numbers.
    dot, dot_backward = neuron_dot(W, X)
    f, sigmoid_cache = sigmoid_forward(dot)
    np.testing.assert_allclose(f, F, rtol=RTOL)
    ddot = sigmoid_backward(1.0, sigmoid_cache)
    np.testing.assert_allclose(ddot, LOCAL, rtol=RTOL)
    np.testing.assert_allclose(ddot, (1 - f) * f, rtol=1e-15)

    dw, dx = dot_backward(ddot)
    np.testing.assert_allclose(dx, DX, rtol=RTOL)
    np.testing.assert_allclose(dw, DW, rtol=RTOL)


def test_item_3_fan_out_sums_the_paths():
    # f(x, y, z) = (x + y) * max(y, z) at x = 1, y = 2, z = 0; y feeds both the add and
    # the max gate.
    x, y, z = scalar(1.0), scalar(2.0), scalar(0.0)
    a, add_cache = add_forward(x, y)
    b, max_cache = maximum_forward(y, z)
    f, mul_cache = multiply_forward(a, b)
    assert (a, b, f) == (3.0, 2.0, 6.0)

    da, db = multiply_backward(1.0, mul_cache)
    assert (da, db) == (2.0, 3.0)
    dx, dy_through_add = add_backward(da, add_cache)
    dy_through_max, dz = maximum_backward(db, max_cache)  # max routes db to y, which won
    dy = dy_through_add + dy_through_max
    assert (dx, dy, dz) == (2.0, 5.0, 0.0)
    assert (dy_through_add, dy_through_max) == (2.0, 3.0)


@pytest.mark.parametrize("h", [[1.0, 2.0, 0.5], [-3.0, 0.0, 4.0, 1.5]])
def test_item_5_softmax_jacobian(h):
    # d yhat_i / d h_k = yhat_i (1 - yhat_i) if i = k, else -yhat_i yhat_k. Backward with
    # the one-hot upstream gradient e_i gives row i of that Jacobian.
    h = np.array(h)
    yhat, cache = softmax_forward(h)
    for i in range(h.size):
        one_hot = np.eye(h.size)[i]
        row = softmax_backward(one_hot, cache)
        expected = [yhat[i] * (1 - yhat[i]) if k == i else -yhat[i] * yhat[k]
                    for k in range(h.size)]
        np.testing.assert_allclose(row, expected, rtol=1e-12, atol=1e-16)


def test_item_5_softmax_with_cross_entropy_collapses_to_yhat_minus_y():
    # J = -sum_i y_i log yhat_i has dJ/dyhat = -y / yhat; through softmax: yhat - y.
    h = np.array([1.0, 2.0, 0.5])
    y = np.array([0.0, 1.0, 0.0])
    yhat, cache = softmax_forward(h)
    np.testing.assert_allclose(softmax_backward(-y / yhat, cache), yhat - y,
                               rtol=1e-12, atol=1e-16)
