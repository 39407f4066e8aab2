"""Affine layer: values by hand, empty batches, and bad input named by function and argument."""

import numpy as np
import pytest

from checks import assert_gradients
from layers.affine import affine_backward, affine_forward


def test_values_and_gradients_by_hand():
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    w = np.array([[1.0, 0.5, -1.0], [2.0, 0.0, 1.0]])
    b = np.array([0.5, -0.5, 0.0])
    out, cache = affine_forward(x, w, b)
    np.testing.assert_array_equal(out, [[5.5, 0.0, 1.0], [1.5, 1.0, -4.0]])
    dout = np.array([[1.0, -1.0, 2.0], [0.0, 3.0, 1.0]])
    dx, dw, db = affine_backward(dout, cache)
    np.testing.assert_array_equal(dx, dout @ w.T)
    np.testing.assert_array_equal(dx, [[-1.5, 4.0], [0.5, 1.0]])
    np.testing.assert_array_equal(dw, [[1.0, 8.0, 5.0], [2.0, -5.0, 3.0]])
    np.testing.assert_array_equal(db, [1.0, 2.0, 3.0])


def test_examples_are_flattened_and_dx_keeps_their_shape(rng):
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((12, 5))
    b = rng.standard_normal(5)
    out, cache = affine_forward(x, w, b)
    np.testing.assert_allclose(out, x.reshape(2, 12) @ w + b, rtol=1e-14)
    dx, _, _ = affine_backward(rng.standard_normal((2, 5)), cache)
    assert dx.shape == (2, 3, 4)
    assert_gradients(affine_forward, affine_backward, x, w, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_empty_batch_gives_empty_outputs_and_zero_parameter_gradients(dtype):
    x = np.ones((0, 2, 3), dtype)
    w = np.ones((6, 4), dtype)
    b = np.ones(4, dtype)
    out, cache = affine_forward(x, w, b)
    assert out.shape == (0, 4) and out.dtype == dtype
    dx, dw, db = affine_backward(np.ones((0, 4), dtype), cache)
    assert dx.shape == (0, 2, 3) and dx.dtype == dtype
    # No examples contribute: the sums over the batch are empty, so 0.
    np.testing.assert_array_equal(dw, np.zeros((6, 4)))
    np.testing.assert_array_equal(db, np.zeros(4))


def test_zero_features_give_the_bias():
    out, cache = affine_forward(np.ones((2, 0)), np.ones((0, 3)), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(out, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    dx, dw, db = affine_backward(np.ones((2, 3)), cache)
    assert dx.shape == (2, 0) and dw.shape == (0, 3)
    np.testing.assert_array_equal(db, [2.0, 2.0, 2.0])


# -- bad input ------------------------------------------------------------------------------

X, W, B = np.ones((2, 3)), np.ones((3, 4)), np.ones(4)


@pytest.mark.parametrize("args, error, message", [
    ((np.ones(3), W, B), ValueError,
     r"affine_forward: x must have shape \(N, d_1, \.\.\., d_k\) with k >= 1; got "
     r"x.shape = \(3,\)"),
    ((np.ones(()), W, B), ValueError,
     r"affine_forward: x must have at least 1 dimension, shape \(N, \.\.\.\); got "
     r"x.shape = \(\)"),
    ((X, np.ones((5, 4)), B), ValueError,
     r"affine_forward: w must have shape \(D, M\) with D=3 from x \(N, d_1, \.\.\., d_k\); "
     r"got w.shape = \(5, 4\)"),
    ((X, np.ones(3), B), ValueError,
     r"affine_forward: w must be a 2-d array of shape \(D, M\); got w.shape = \(3,\)"),
    ((X, W, np.ones(5)), ValueError,
     r"affine_forward: b must have shape \(M,\) with M=4 from w; got b.shape = \(5,\)"),
    ((X, W, np.ones((1, 4))), ValueError,
     r"affine_forward: b must be a 1-d array of shape \(M,\); got b.shape = \(1, 4\)"),
    ((np.ones((2, 3), dtype=np.complex128), W, B), TypeError,
     r"affine_forward: x must be a number array, .*; got complex128 array of shape \(2, 3\)"),
    ((X, "w", B), TypeError, r"affine_forward: w must be a number array, .*; got str"),
    ((X, W, B.astype(np.float16)), TypeError,
     r"affine_forward: b must be a number array, .*; got float16 array of shape \(4,\)"),
])
def test_forward_bad_input_names_the_argument(args, error, message):
    with pytest.raises(error, match=message):
        affine_forward(*args)


@pytest.mark.parametrize("dout, error, message", [
    (np.ones((4, 2)), ValueError,
     r"affine_backward: dout must have the shape of the forward output \(2, 4\); got "
     r"dout.shape = \(4, 2\)"),
    (np.ones(4), ValueError, r"affine_backward: dout must have the shape of the forward "
                             r"output \(2, 4\); got dout.shape = \(4,\)"),
    (np.ones((2, 4), dtype=np.int64), TypeError,
     r"affine_backward: dout must be a floating-point array; got int64 array"),
    ([[1.0] * 4] * 2, TypeError, r"affine_backward: dout must be a floating-point array; "
                                 r"got list"),
])
def test_backward_bad_upstream_names_dout(dout, error, message):
    _, cache = affine_forward(X, W, B)
    with pytest.raises(error, match=message):
        affine_backward(dout, cache)


def test_float32_upstream_keeps_float64_gradients():
    # upstream casts dout to the forward's dtype: every gradient has its argument's dtype.
    _, cache = affine_forward(X, W, B)
    grads = affine_backward(np.ones((2, 4), np.float32), cache)
    assert [g.dtype for g in grads] == [np.float64] * 3
