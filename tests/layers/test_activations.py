"""Activations: values, conventions at kinks, numerics at extreme inputs, bad input."""

import math
import re

import numpy as np
import pytest
from scipy.special import erf

from checks import assert_gradients
from layers import activations
from layers.activations import (elu_backward, elu_forward, gelu_forward, gelu_tanh_forward,
                                leaky_relu_backward, leaky_relu_forward, relu_backward,
                                relu_forward, sigmoid_forward, silu_forward,
                                softmax_backward, softmax_forward, softplus_backward,
                                softplus_forward, tanh_forward)

NAMES = ["relu", "leaky_relu", "elu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh",
         "softplus", "softmax"]


def pair(name):
    return (getattr(activations, f"{name}_forward"),
            getattr(activations, f"{name}_backward"))


# -- values -------------------------------------------------------------------------------

def test_known_values():
    x = np.array([-2.0, 0.0, 1.0])
    np.testing.assert_array_equal(relu_forward(x)[0], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(leaky_relu_forward(x, alpha=0.1)[0], [-0.2, 0.0, 1.0],
                               rtol=1e-15)
    np.testing.assert_allclose(elu_forward(x, alpha=2.0)[0],
                               [2.0 * (math.exp(-2.0) - 1), 0.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(sigmoid_forward(x)[0], 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(tanh_forward(x)[0], np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(softplus_forward(x)[0], np.log1p(np.exp(x)), rtol=1e-15)
    np.testing.assert_allclose(silu_forward(x)[0], x / (1 + np.exp(-x)), rtol=1e-15)
    # GELU(1) = Phi(1) = 0.841344746068543 (standard normal cdf).
    np.testing.assert_allclose(gelu_forward(x)[0],
                               x * 0.5 * (1 + erf(x / math.sqrt(2))), rtol=1e-15)
    assert gelu_forward(np.array(1.0))[0] == pytest.approx(0.841344746068543, rel=1e-14)


def test_gelu_tanh_is_within_5e_4_of_exact_gelu():
    x = np.linspace(-8.0, 8.0, 3201)
    gap = np.abs(gelu_tanh_forward(x)[0] - gelu_forward(x)[0])
    assert 1e-4 < gap.max() < 5e-4  # an approximation, and a close one


def test_softmax_rows_sum_to_one_and_backward_is_the_jacobian_product(rng):
    x = rng.standard_normal((2, 3, 5))
    dout = rng.standard_normal((2, 3, 5))
    y, cache = softmax_forward(x)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-15)
    # Jacobian per slice: J[i, k] = y_i (delta_ik - y_k); dx_k = sum_i dout_i J[i, k].
    jacobian = y[..., :, None] * (np.eye(5) - y[..., None, :])
    expected = np.einsum("...i,...ik->...k", dout, jacobian)
    np.testing.assert_allclose(softmax_backward(dout, cache), expected, rtol=1e-12,
                               atol=1e-15)


def test_softmax_is_shift_invariant(rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(softmax_forward(x + 1000.0)[0], softmax_forward(x)[0],
                               rtol=1e-12)


# -- conventions at kinks -----------------------------------------------------------------

def test_derivatives_at_zero_follow_cs231n_and_pytorch():
    x = np.array([0.0])
    dout = np.array([1.0])
    assert relu_backward(dout, relu_forward(x)[1]) == 0.0
    assert leaky_relu_backward(dout, leaky_relu_forward(x, alpha=0.2)[1]) == 0.2
    assert elu_backward(dout, elu_forward(x, alpha=3.0)[1]) == 3.0


@pytest.mark.parametrize("name, kwargs", [("leaky_relu", {"alpha": 0.3}),
                                          ("elu", {"alpha": 0.5}), ("elu", {"alpha": 2.0})])
def test_options_are_constants_and_gradients_check(name, kwargs, rng):
    forward, backward = pair(name)
    x = rng.standard_normal((3, 4))
    x = np.where(np.abs(x) < 0.05, 0.5, x)  # away from the kink at 0
    report = assert_gradients(forward, backward, x, **kwargs)
    assert report.ok


# -- numerics -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_give_finite_values_and_gradients(name, dtype):
    forward, backward = pair(name)
    x = np.array([[-1e4, -50.0, 0.5, 50.0, 1e4], [1e4, 1e4, -1e4, 0.0, -1e4]], dtype=dtype)
    dout = np.array([[0.5, -1.0, 2.0, 1.5, -0.5], [1.0, -2.0, 0.5, 1.0, 3.0]], dtype=dtype)
    with np.errstate(all="raise"):
        out, cache = forward(x)
        dx = backward(dout, cache)
    assert out.dtype == dx.dtype == dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))


def test_saturated_values_are_exact():
    x = np.array([-1e4, 1e4])
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(sigmoid_forward(x)[0], [0.0, 1.0])
        np.testing.assert_array_equal(softplus_forward(x)[0], [0.0, 1e4])
        np.testing.assert_array_equal(softplus_backward(np.ones(2), softplus_forward(x)[1]),
                                      [0.0, 1.0])
        np.testing.assert_array_equal(softmax_forward(np.array([1e4, -1e4, 1e4]))[0],
                                      [0.5, 0.0, 0.5])


@pytest.mark.parametrize("name", NAMES)
def test_float32_in_float32_out(name, rng):
    forward, backward = pair(name)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    out, cache = forward(x)
    dx = backward(rng.standard_normal((2, 3)).astype(np.float32), cache)
    assert out.dtype == dx.dtype == np.float32


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("x, error, message", [
    (np.ones(3, dtype=bool), TypeError,
     r"x must be a number array, .*; got bool array of shape \(3,\)"),
    ("1.0", TypeError, r"x must be a number array, .*; got str"),
    (np.ones(3, dtype=np.complex128), TypeError,
     r"x must be a number array, .*; got complex128 array"),
])
def test_non_float_input_is_refused(name, x, error, message):
    forward, _ = pair(name)
    with pytest.raises(error, match=rf"{name}_forward: {message}"):
        forward(x)


@pytest.mark.parametrize("name", ["leaky_relu", "elu"])
@pytest.mark.parametrize("alpha", ["0.1", None, [0.1], np.ones(2)])
def test_alpha_must_be_a_real_number(name, alpha):
    forward, _ = pair(name)
    with pytest.raises(TypeError, match=rf"{name}_forward: alpha must be a real number"):
        forward(np.ones(3), alpha=alpha)


@pytest.mark.parametrize("name", ["leaky_relu", "elu"])
def test_alpha_is_keyword_only(name):
    forward, _ = pair(name)
    with pytest.raises(TypeError, match="positional"):
        forward(np.ones(3), 0.1)


def test_softmax_needs_an_axis():
    with pytest.raises(ValueError, match=r"softmax_forward: x must have at least 1 "
                                         r"dimension,.*got x.shape = \(\)"):
        softmax_forward(np.array(1.0))


@pytest.mark.parametrize("name", NAMES)
def test_backward_refuses_an_upstream_gradient_of_the_wrong_shape(name):
    forward, backward = pair(name)
    _, cache = forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"{name}_backward: dout must have the shape of the "
                                         r"forward output \(2, 3\); got dout.shape = \(3,\)"):
        backward(np.ones(3), cache)


@pytest.mark.parametrize("name", NAMES)
def test_backward_refuses_an_integer_upstream_gradient(name):
    forward, backward = pair(name)
    _, cache = forward(np.ones((2, 3)))
    with pytest.raises(TypeError, match=rf"{name}_backward: dout must be a floating-point"):
        backward(np.ones((2, 3), dtype=np.int64), cache)


def test_gelu_tanh_keeps_float32_precision_for_negative_inputs():
    gelu_tanh_backward = activations.gelu_tanh_backward
    # Regression: 0.5 * x * (1 + tanh(u)) cancelled and lost 1% at x = -4.49 in float32.
    x = np.array([-4.49, -6.0, -3.0], dtype=np.float32)
    out32, cache32 = gelu_tanh_forward(x)
    out64, cache64 = gelu_tanh_forward(x.astype(np.float64))
    dout = np.ones_like(x)
    np.testing.assert_allclose(out32, out64, rtol=1e-5)
    np.testing.assert_allclose(gelu_tanh_backward(dout, cache32),
                               gelu_tanh_backward(dout.astype(np.float64), cache64), rtol=1e-5)


@pytest.mark.parametrize("forward", [activations.leaky_relu_forward, activations.elu_forward])
def test_numpy_scalar_options_keep_float32(forward):
    # A float64 NumPy scalar (from np.linspace, say) must not upcast a float32 layer.
    out, cache = forward(-np.ones((2, 3), np.float32), alpha=np.float64(0.1))
    assert out.dtype == np.float32
    backward = getattr(activations, forward.__name__.replace("forward", "backward"))
    assert backward(np.ones_like(out), cache).dtype == np.float32


@pytest.mark.parametrize("forward", [activations.leaky_relu_forward, activations.elu_forward])
def test_non_finite_alpha_is_refused(forward):
    name = forward.__name__
    with pytest.raises(ValueError, match=f"{name}: alpha must be a finite number; got nan"):
        forward(np.ones(3), alpha=float("nan"))


# -- empty dimensions and aliasing --------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_empty_batch_gives_empty_outputs(name, dtype):
    forward, backward = pair(name)
    out, cache = forward(np.ones((0, 3), dtype))
    assert out.shape == (0, 3) and out.dtype == dtype
    dx = backward(np.ones((0, 3), dtype), cache)
    assert dx.shape == (0, 3) and dx.dtype == dtype


def test_softmax_refuses_zero_classes():
    with pytest.raises(ValueError, match=re.escape(
            "softmax_forward: x must have C >= 1 entries along its last axis (a softmax "
            "over no classes is undefined); got x.shape = (2, 0)")):
        softmax_forward(np.ones((2, 0)))


@pytest.mark.parametrize("name", NAMES)
def test_dx_is_a_new_array_that_can_be_accumulated_into(name, rng):
    forward, backward = pair(name)
    _, cache = forward(rng.standard_normal((2, 3)) + 0.1)
    dout = rng.standard_normal((2, 3))
    saved = dout.copy()
    dx = backward(dout, cache)
    assert dx is not dout and not np.may_share_memory(dx, dout)
    dx += 1.0
    np.testing.assert_array_equal(dout, saved)
