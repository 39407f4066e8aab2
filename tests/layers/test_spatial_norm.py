"""Spatial batch and group normalization: agreement with the definitions, running
statistics, parameter shapes, bad input."""

import re

import numpy as np
import pytest

from checks import assert_gradients
from layers.batchnorm import batchnorm_backward, batchnorm_forward
from layers.spatial_norm import (spatial_batchnorm_backward, spatial_batchnorm_forward,
                                 spatial_groupnorm_backward, spatial_groupnorm_forward)

EPS = 1e-5


def feature_maps(rng, shape=(3, 4, 2, 5)):
    return 0.5 + 2.0 * rng.standard_normal(shape)


# -- spatial batch norm ---------------------------------------------------------------------

def test_spatial_batchnorm_is_batchnorm_over_batch_and_positions(rng):
    x = feature_maps(rng)
    gamma, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    bn_param = {"mode": "train", "momentum": 0.7}
    out, cache = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    expected = gamma[:, None, None] * (x - mean) / np.sqrt(var + EPS) + beta[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)
    assert out.flags.c_contiguous
    # Running statistics as batch norm keeps them, per channel.
    np.testing.assert_allclose(bn_param["running_mean"], 0.3 * mean.ravel(), rtol=1e-13)
    # Both start at zeros, as in CS231n's reference.
    np.testing.assert_allclose(bn_param["running_var"], 0.3 * var.ravel(), rtol=1e-13)

    # Backward: batch norm's on the (N*H*W, C) matrix, mapped back.
    dout = rng.standard_normal(x.shape)
    dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
    flat = x.transpose(0, 2, 3, 1).reshape(-1, 4)
    _, flat_cache = batchnorm_forward(flat, gamma, beta, {"mode": "train"})
    dflat = dout.transpose(0, 2, 3, 1).reshape(-1, 4)
    dflat, dgamma_ref, dbeta_ref = batchnorm_backward(dflat, flat_cache)
    np.testing.assert_allclose(dx, dflat.reshape(3, 2, 5, 4).transpose(0, 3, 1, 2),
                               rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(dgamma, dgamma_ref, rtol=1e-12)
    np.testing.assert_allclose(dbeta, dbeta_ref, rtol=1e-12)


def test_spatial_batchnorm_test_mode_uses_running_statistics(rng):
    x = feature_maps(rng)
    bn_param = {"mode": "test", "running_mean": np.arange(4.0),
                "running_var": np.array([1.0, 4.0, 9.0, 16.0])}
    out, cache = spatial_batchnorm_forward(x, np.ones(4), np.zeros(4), bn_param)
    expected = (x - np.arange(4.0)[:, None, None]) / np.sqrt(
        np.array([1.0, 4.0, 9.0, 16.0])[:, None, None] + EPS)
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    assert_gradients(spatial_batchnorm_forward, spatial_batchnorm_backward, x,
                     np.ones(4), np.zeros(4), bn_param)


def test_spatial_batchnorm_one_example_with_several_positions_trains(rng):
    # N = 1 is fine here: the statistics run over H*W positions too.
    x = feature_maps(rng, (1, 2, 3, 3))
    assert_gradients(spatial_batchnorm_forward, spatial_batchnorm_backward, x,
                     np.array([1.0, 2.0]), np.array([0.0, 1.0]), {"mode": "train"})


@pytest.mark.parametrize("args, error, message", [
    ((np.zeros((2, 3, 4)), np.ones(3), np.zeros(3), {"mode": "train"}), ValueError,
     "spatial_batchnorm_forward: x must be a 4-d array of shape (N, C, H, W); got "
     "x.shape = (2, 3, 4)"),
    ((np.zeros((2, 3, 2, 2)), np.ones(4), np.zeros(3), {"mode": "train"}), ValueError,
     "spatial_batchnorm_forward: gamma must have shape (C,) with C=3 from x; got "
     "gamma.shape = (4,)"),
    ((np.zeros((2, 3, 2, 2)), np.ones(3), np.zeros(3), {"mode": "fit"}), ValueError,
     "bn_param['mode'] must be 'train' or 'test'; got 'fit'"),
])
def test_spatial_batchnorm_bad_input(args, error, message):
    with pytest.raises(error, match=re.escape(message)):
        spatial_batchnorm_forward(*args)


# -- spatial group norm ---------------------------------------------------------------------

def groupnorm_reference(x, gamma, beta, groups):
    """Group norm by its definition, one (example, group) block at a time."""
    out = np.empty_like(x)
    size = x.shape[1] // groups
    for n in range(x.shape[0]):
        for g in range(groups):
            block = x[n, g * size:(g + 1) * size]
            normalized = (block - block.mean()) / np.sqrt(block.var() + EPS)
            out[n, g * size:(g + 1) * size] = normalized
    return gamma.reshape(1, -1, 1, 1) * out + beta.reshape(1, -1, 1, 1)


@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("param_shape", [(1, 4, 1, 1), (4,)])
def test_spatial_groupnorm_matches_its_definition(groups, param_shape, rng):
    x = feature_maps(rng)
    gamma = rng.uniform(0.5, 1.5, 4).reshape(param_shape)
    beta = rng.standard_normal(4).reshape(param_shape)
    out, cache = spatial_groupnorm_forward(x, gamma, beta, groups, {})
    np.testing.assert_allclose(out, groupnorm_reference(x, gamma, beta, groups), rtol=1e-13,
                               atol=1e-13)
    dx, dgamma, dbeta = spatial_groupnorm_backward(rng.standard_normal(x.shape), cache)
    assert dx.shape == x.shape and dgamma.shape == dbeta.shape == param_shape
    assert_gradients(spatial_groupnorm_forward, spatial_groupnorm_backward, x, gamma, beta,
                     groups, {"eps": EPS})


def test_spatial_groupnorm_keeps_float32():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 2, 2)
    out, cache = spatial_groupnorm_forward(x, np.ones((1, 4, 1, 1), np.float32),
                                           np.zeros((1, 4, 1, 1), np.float32), 2, {})
    grads = spatial_groupnorm_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


GN_X = np.zeros((2, 6, 2, 2))


@pytest.mark.parametrize("args, error, message", [
    ((GN_X, np.ones((1, 6, 1, 1)), np.zeros((1, 6, 1, 1)), 4, {}), ValueError,
     "G must divide the number of channels C = 6 (from x); got G = 4"),
    ((GN_X, np.ones((1, 6, 1, 1)), np.zeros((1, 6, 1, 1)), 0, {}), ValueError,
     "G must be >= 1; got 0"),
    ((GN_X, np.ones((1, 6, 1, 1)), np.zeros((1, 6, 1, 1)), 2.0, {}), TypeError,
     "G must be an integer; got float"),
    ((GN_X, np.ones((6, 1, 1)), np.zeros((1, 6, 1, 1)), 2, {}), ValueError,
     "gamma must have shape (1, C, 1, 1) or (C,) with C = 6 from x; got float64 array of "
     "shape (6, 1, 1)"),
    ((GN_X, np.ones(6), np.zeros(5), 2, {}), ValueError,
     "beta must have shape (1, C, 1, 1) or (C,) with C = 6 from x"),
    ((GN_X, np.ones(6), np.zeros(6), 2, {"eps": 0.0}), ValueError,
     "gn_param['eps'] must be in (0, inf]; got 0.0"),
    ((GN_X, np.ones(6), np.zeros(6), 2, None), TypeError, "gn_param must be a dict"),
])
def test_spatial_groupnorm_bad_input(args, error, message):
    with pytest.raises(error, match=re.escape(f"spatial_groupnorm_forward: {message}")):
        spatial_groupnorm_forward(*args)
