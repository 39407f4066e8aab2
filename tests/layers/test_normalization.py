"""Batch and layer normalization: values by hand, running statistics, the two batch-norm
backwards, the edge cases (N = 1, a constant feature) and bad input."""

import re

import numpy as np
import pytest

from checks import assert_gradients
from layers import (batchnorm_backward, batchnorm_backward_alt, batchnorm_forward,
                    layernorm_backward, layernorm_forward)

EPS = 1e-5


def random_batch(seed, shape, loc=0.5, scale=2.0):
    rng = np.random.default_rng(seed)
    d = shape[-1]
    return (loc + scale * rng.standard_normal(shape), rng.uniform(0.5, 1.5, d),
            rng.standard_normal(d))


# -- batch normalization: values ------------------------------------------------------------

def test_batchnorm_train_by_hand():
    # Column 0: mean 2, biased var 1. Column 1: mean 4, biased var 4.
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    gamma, beta = np.array([2.0, 0.5]), np.array([-1.0, 3.0])
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    xhat = np.array([[-1 / np.sqrt(1 + EPS), -2 / np.sqrt(4 + EPS)],
                     [1 / np.sqrt(1 + EPS), 2 / np.sqrt(4 + EPS)]])
    np.testing.assert_allclose(out, gamma * xhat + beta, rtol=1e-15)


def test_batchnorm_running_statistics_update_by_hand():
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    running_mean, running_var = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    bn_param = {"mode": "train", "momentum": 0.8, "running_mean": running_mean,
                "running_var": running_var}
    batchnorm_forward(x, np.ones(2), np.zeros(2), bn_param)
    # running = 0.8 * running + 0.2 * batch statistic, with the biased variance [1, 4].
    np.testing.assert_allclose(bn_param["running_mean"], [0.8, 0.0], atol=1e-15)
    np.testing.assert_allclose(bn_param["running_var"], [1.8, 3.2], rtol=1e-15)
    # Rebound to new arrays: the caller's arrays are untouched.
    assert bn_param["running_mean"] is not running_mean
    np.testing.assert_array_equal(running_mean, [0.5, -1.0])
    np.testing.assert_array_equal(running_var, [2.0, 3.0])


def test_batchnorm_default_running_statistics_in_the_dtype_of_x():
    x = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
    bn_param = {"mode": "train"}
    batchnorm_forward(x, np.ones(2, np.float32), np.zeros(2, np.float32), bn_param)
    # Both from zeros (CS231n's reference; PyTorch starts the variance at ones), with the
    # default momentum 0.9: 0.1 * mean = (0.2, 0.4), 0.1 * var = (0.1, 0.4).
    np.testing.assert_allclose(bn_param["running_mean"], [0.2, 0.4], rtol=1e-6)
    np.testing.assert_allclose(bn_param["running_var"], [0.1, 0.4], rtol=1e-6)
    assert bn_param["running_mean"].dtype == bn_param["running_var"].dtype == np.float32


def test_batchnorm_test_mode_uses_the_running_statistics_and_keeps_them():
    x, gamma, beta = random_batch(0, (4, 3))
    running_mean, running_var = np.array([0.1, -0.2, 0.3]), np.array([0.5, 1.5, 2.0])
    bn_param = {"mode": "test", "running_mean": running_mean, "running_var": running_var}
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    expected = gamma * (x - running_mean) / np.sqrt(running_var + EPS) + beta
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    assert bn_param["running_mean"] is running_mean
    assert bn_param["running_var"] is running_var


def test_batchnorm_test_mode_accepts_one_example():
    x, gamma, beta = random_batch(1, (1, 3))
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "test"})
    # Without running statistics both start at zeros, as in CS231n's reference.
    np.testing.assert_allclose(out, gamma * x / np.sqrt(EPS) + beta, rtol=1e-14)


def test_batchnorm_refuses_one_example_in_train_mode():
    x, gamma, beta = random_batch(1, (1, 3))
    with pytest.raises(ValueError, match=re.escape(
            "batchnorm_forward: x must hold N >= 2 examples in train mode")):
        batchnorm_forward(x, gamma, beta, {"mode": "train"})


def test_batchnorm_constant_feature_gives_beta_and_finite_gradients():
    x, gamma, beta = random_batch(2, (5, 3))
    x[:, 1] = 0.1  # a sum of 0.1s is not exactly 5 * 0.1: xhat is ~1e-15, not 0
    with np.errstate(all="raise"):
        out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
        dout = np.random.default_rng(3).standard_normal(x.shape)
        grads = batchnorm_backward(dout, cache)
    np.testing.assert_allclose(out[:, 1], beta[1], atol=1e-12)
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert_gradients(batchnorm_forward, batchnorm_backward, x, gamma, beta,
                     {"mode": "train"})


# -- batch normalization: the two backwards -------------------------------------------------

@pytest.mark.parametrize("seed, shape", [(0, (4, 3)), (1, (10, 5)), (2, (3, 1))])
def test_batchnorm_backward_and_alt_agree(seed, shape):
    x, gamma, beta = random_batch(seed, shape)
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dout = np.random.default_rng(seed + 100).standard_normal(shape)
    for graph, closed in zip(batchnorm_backward(dout, cache),
                             batchnorm_backward_alt(dout, cache), strict=True):
        np.testing.assert_allclose(closed, graph, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backward", [batchnorm_backward, batchnorm_backward_alt])
@pytest.mark.parametrize("mode", ["train", "test"])
def test_batchnorm_gradients(backward, mode):
    x, gamma, beta = random_batch(4, (5, 3))
    bn_param = {"mode": mode, "running_mean": np.array([0.2, -0.1, 0.4]),
                "running_var": np.array([0.7, 1.2, 2.5])}
    assert_gradients(batchnorm_forward, backward, x, gamma, beta, bn_param)


def test_batchnorm_train_dx_vanishes_for_an_all_ones_upstream_gradient():
    # Why the checker never uses an all-ones upstream gradient: normalized columns sum to
    # zero whatever x is, so sum(out) does not depend on x.
    x, gamma, beta = random_batch(5, (6, 2))
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, _, _ = batchnorm_backward(np.ones(x.shape), cache)
    np.testing.assert_allclose(dx, 0, atol=1e-12)


# -- layer normalization ------------------------------------------------------------------

def test_layernorm_by_hand():
    x = np.array([[1.0, 3.0, 5.0]])  # mean 3, biased var 8/3
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, -0.5])
    out, _ = layernorm_forward(x, gamma, beta, {})
    xhat = np.array([-2.0, 0.0, 2.0]) / np.sqrt(8 / 3 + EPS)
    np.testing.assert_allclose(out, [gamma * xhat + beta], rtol=1e-15, atol=1e-15)


def test_layernorm_is_batchnorm_of_the_transpose():
    x, _, _ = random_batch(6, (4, 5))
    dout = np.random.default_rng(7).standard_normal(x.shape)
    ln_out, ln_cache = layernorm_forward(x, np.ones(5), np.zeros(5), {})
    bn_out, bn_cache = batchnorm_forward(x.T, np.ones(4), np.zeros(4), {"mode": "train"})
    np.testing.assert_allclose(ln_out, bn_out.T, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(layernorm_backward(dout, ln_cache)[0],
                               batchnorm_backward(dout.T, bn_cache)[0].T, rtol=1e-12,
                               atol=1e-14)


def test_layernorm_on_sequences_equals_layernorm_on_the_flattened_batch():
    x, gamma, beta = random_batch(8, (2, 3, 4))
    dout = np.random.default_rng(9).standard_normal(x.shape)
    out, cache = layernorm_forward(x, gamma, beta, {"eps": 1e-3})
    flat_out, flat_cache = layernorm_forward(x.reshape(6, 4), gamma, beta, {"eps": 1e-3})
    np.testing.assert_array_equal(out, flat_out.reshape(x.shape))
    for grad, flat in zip(layernorm_backward(dout, cache),
                          layernorm_backward(dout.reshape(6, 4), flat_cache), strict=True):
        np.testing.assert_allclose(grad.reshape(flat.shape), flat, rtol=1e-14, atol=1e-15)


def test_layernorm_gradients_and_ignored_mode():
    x, gamma, beta = random_batch(10, (2, 3, 4))
    assert_gradients(layernorm_forward, layernorm_backward, x, gamma, beta, {})
    # CS231n's networks set a 'mode' in ln_param too; layer norm has no train/test split.
    train, _ = layernorm_forward(x, gamma, beta, {"mode": "train"})
    test, _ = layernorm_forward(x, gamma, beta, {"mode": "test"})
    np.testing.assert_array_equal(train, test)


def test_layernorm_constant_row_gives_beta_and_finite_gradients():
    x, gamma, beta = random_batch(11, (3, 4))
    x[1] = 2.5
    with np.errstate(all="raise"):
        out, cache = layernorm_forward(x, gamma, beta, {})
        grads = layernorm_backward(np.random.default_rng(12).standard_normal(x.shape), cache)
    np.testing.assert_allclose(out[1], beta, atol=1e-12)
    assert all(np.all(np.isfinite(g)) for g in grads)


# -- bad input ----------------------------------------------------------------------------

X, GAMMA, BETA = np.ones((3, 4)), np.ones(4), np.zeros(4)


@pytest.mark.parametrize("args, error, message", [
    ((np.ones(4), GAMMA, BETA, {"mode": "train"}), ValueError,
     "batchnorm_forward: x must be a 2-d array of shape (N, D); got x.shape = (4,)"),
    ((X, np.ones(3), BETA, {"mode": "train"}), ValueError,
     "batchnorm_forward: gamma must have shape (D,) with D=4 from x; got gamma.shape = (3,)"),
    ((X, GAMMA, np.zeros((1, 4)), {"mode": "train"}), ValueError,
     "batchnorm_forward: beta must be a 1-d array of shape (D,); got beta.shape = (1, 4)"),
    ((X.astype(complex), GAMMA, BETA, {"mode": "train"}), TypeError,
     "batchnorm_forward: x must be a number array, float32 or float64 (integers and Python "
     "numbers are promoted as NumPy does); got complex128"),
    ((X, GAMMA, BETA, {"mode": "eval"}), ValueError,
     "batchnorm_forward: bn_param['mode'] must be 'train' or 'test'; got 'eval'"),
    ((X, GAMMA, BETA, {"mode": "train", "eps": 0.0}), ValueError,
     "batchnorm_forward: bn_param['eps'] must be in (0, inf]; got 0.0"),
    ((X, GAMMA, BETA, {"mode": "train", "momentum": 1.5}), ValueError,
     "batchnorm_forward: bn_param['momentum'] must be in [0, 1]; got 1.5"),
    ((X, GAMMA, BETA, {"mode": "train", "running_mean": np.zeros(3)}), ValueError,
     "batchnorm_forward: bn_param['running_mean'] must have shape (D,) with D=4 from x"),
    ((X, GAMMA, BETA, {"mode": "test", "running_var": -np.ones(4)}), ValueError,
     "batchnorm_forward: bn_param['running_var'] must be non-negative; got a minimum of -1"),
    ((X, GAMMA, BETA, {"mode": "test", "running_var": [1.0] * 4}), TypeError,
     "batchnorm_forward: bn_param['running_var'] must be a floating-point array"),
    ((X, GAMMA, BETA, None), TypeError,
     "batchnorm_forward: bn_param must be a dict; got NoneType"),
])
def test_batchnorm_bad_input(args, error, message):
    with pytest.raises(error, match=re.escape(message)):
        batchnorm_forward(*args)


@pytest.mark.parametrize("args, error, message", [
    ((X, np.ones(3), BETA, {}), ValueError,
     "layernorm_forward: gamma must have shape (D,) with D=4 from x; got gamma.shape = (3,)"),
    ((np.ones((2, 3, 4)), GAMMA, np.zeros(5), {}), ValueError,
     "layernorm_forward: beta must have shape (D,) with D=4 from x; got beta.shape = (5,)"),
    ((X.astype(np.complex64), GAMMA, BETA, {}), TypeError,
     "layernorm_forward: x must be a number array, float32 or float64 (integers and Python "
     "numbers are promoted as NumPy does); got complex64"),
    ((X, GAMMA, BETA, {"eps": -1.0}), ValueError,
     "layernorm_forward: ln_param['eps'] must be in (0, inf]; got -1.0"),
    ((X, GAMMA, BETA, 1e-5), TypeError,
     "layernorm_forward: ln_param must be a dict; got float"),
])
def test_layernorm_bad_input(args, error, message):
    with pytest.raises(error, match=re.escape(message)):
        layernorm_forward(*args)


@pytest.mark.parametrize("forward, backward, param", [
    (batchnorm_forward, batchnorm_backward, {"mode": "train"}),
    (batchnorm_forward, batchnorm_backward_alt, {"mode": "train"}),
    (layernorm_forward, layernorm_backward, {}),
])
def test_backward_refuses_an_upstream_gradient_of_the_wrong_shape(forward, backward, param):
    _, cache = forward(X, GAMMA, BETA, param)
    with pytest.raises(ValueError, match=re.escape(
            f"{backward.__name__}: dout must have the shape of the forward output (3, 4); "
            "got dout.shape = (4, 3)")):
        backward(np.ones((4, 3)), cache)


def test_numpy_scalar_eps_keeps_float32():
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": np.float64(1e-5)})
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in batchnorm_backward(np.ones_like(out), cache))


def test_nan_options_are_refused():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"batchnorm_forward: bn_param\['eps'\] must be a "
                                         r"finite number; got nan"):
        batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train", "eps": float("nan")})


# -- empty dimensions ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["train", "test"])
def test_batchnorm_refuses_zero_features(mode):
    with pytest.raises(ValueError, match=re.escape(
            "batchnorm_forward: x must have D >= 1 features along axis 1; got "
            "x.shape = (3, 0)")):
        batchnorm_forward(np.ones((3, 0)), np.ones(0), np.ones(0), {"mode": mode})


def test_batchnorm_refuses_an_empty_batch_in_train_mode():
    with pytest.raises(ValueError, match=re.escape(
            "batchnorm_forward: x must hold N >= 2 examples in train mode")):
        batchnorm_forward(np.ones((0, 2)), np.ones(2), np.ones(2), {"mode": "train"})


def test_batchnorm_test_mode_takes_an_empty_batch():
    bn_param = {"mode": "test", "running_mean": np.ones(2), "running_var": np.ones(2)}
    out, cache = batchnorm_forward(np.ones((0, 2)), np.ones(2), np.ones(2), bn_param)
    assert out.shape == (0, 2)
    dx, dgamma, dbeta = batchnorm_backward(np.ones((0, 2)), cache)
    assert dx.shape == (0, 2)
    np.testing.assert_array_equal(dgamma, [0.0, 0.0])
    np.testing.assert_array_equal(dbeta, [0.0, 0.0])


def test_layernorm_refuses_zero_features():
    with pytest.raises(ValueError, match=re.escape(
            "layernorm_forward: x must have D >= 1 features along its last axis (the mean "
            "of no features is undefined); got x.shape = (2, 0)")):
        layernorm_forward(np.ones((2, 0)), np.ones(0), np.ones(0), {})


def test_layernorm_takes_an_empty_batch():
    out, cache = layernorm_forward(np.ones((0, 3)), np.ones(3), np.ones(3), {})
    assert out.shape == (0, 3)
    dx, dgamma, dbeta = layernorm_backward(np.ones((0, 3)), cache)
    assert dx.shape == (0, 3)
    np.testing.assert_array_equal(dgamma, np.zeros(3))
    np.testing.assert_array_equal(dbeta, np.zeros(3))
