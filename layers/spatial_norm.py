"""Normalization of convolutional feature maps (N, C, H, W): spatial batch and group norm.

Spatial batch normalization (Ioffe & Szegedy 2015, section 3.2) normalizes each channel
over the batch AND the spatial positions: it is `batchnorm_forward` applied to the
(N*H*W, C) matrix whose rows are the C-vectors at every (n, h, w). Rather than transpose
to that matrix and back, forward and backward take the statistics over the axes
(0, 2, 3) of x directly; the math, the running statistics and bn_param's conventions
are batch norm's (see `layers.batchnorm`).

Spatial group normalization (Wu & He 2018) normalizes each example over each group of
C/G consecutive channels and all their positions, then scales and shifts per channel:
with the group view xg = x.reshape(N, G, D), D = (C/G)*H*W,

    xhat = (xg - mean) / sqrt(var + eps)   (mean, biased var over D), out = gamma*xhat + beta

Backward: dbeta and dgamma sum dout and dout * xhat over (N, H, W); dx is the
standardization's backward over each group (`layers.batchnorm.standardize_backward`)
applied to dxhat = dout * gamma. No batch statistics: train and test are the same.
"""

import numpy as np

from ._examples import dims, normal
from .scratch import scratch
from .contract import Args, backward_of, describe, differentiable
from .batchnorm import (closed_form_backward, norm_eps, normalize_features,
                        scale_shift_example, standardize, standardize_backward, sum_over)
from .registry import Example, register

__all__ = ["spatial_batchnorm_forward", "spatial_batchnorm_backward",
           "spatial_groupnorm_forward", "spatial_groupnorm_backward"]


@differentiable("x", "gamma", "beta")
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of each channel over the batch and all spatial positions.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
    gamma : ndarray of shape (C,), scale
    beta : ndarray of shape (C,), shift
    bn_param : dict
        As for `batchnorm_forward`: ``'mode'`` ('train' or 'test', required), ``'eps'``,
        ``'momentum'``, and running statistics ``'running_mean'``, ``'running_var'`` of
        shape (C,) (zeros when absent, as in CS231n), rebound (never written into) in
        train mode.

    Returns
    -------
    out : ndarray of shape (N, C, H, W), x's dtype
    cache : for `spatial_batchnorm_backward`
    """
    return normalize_features(x, "N C H W", gamma, beta,
                              bn_param)


@backward_of(spatial_batchnorm_forward)
def spatial_batchnorm_backward(dout, cache):
    """Backward pass of `spatial_batchnorm_forward` (batch norm's closed-form backward).

    Parameters
    ----------
    dout : ndarray of shape (N, C, H, W), upstream gradient
    cache : from `spatial_batchnorm_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    dgamma : ndarray of shape (C,)
    dbeta : ndarray of shape (C,)
    """
    return closed_form_backward(dout, cache)


@differentiable("x", "gamma", "beta")
def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalization: each example over groups of C/G channels, then per-channel affine.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
    gamma : ndarray of shape (1, C, 1, 1) (CS231n's) or (C,) (PyTorch's), scale
    beta : ndarray of shape (1, C, 1, 1) or (C,), shift
    G : int >= 1, the number of groups; it must divide C. G = 1 is layer norm over
        (C, H, W), G = C is instance norm.
    gn_param : dict
        ``'eps'``: added to the variance, default 1e-5; it must stay positive in x's
        dtype. ``'mode'`` (``'train'`` or ``'test'``), which CS231n's notebook passes, is
        accepted and ignored. Any other key is a ValueError.

    Returns
    -------
    out : ndarray of shape (N, C, H, W), x's dtype
    cache : for `spatial_groupnorm_backward`; the gradients of gamma and beta come back
        in the shapes they were given in.
    """
    check = Args()
    x = check.floats("x", x, "N C H W")
    n, c = x.shape[:2]
    gamma4 = channel_parameter(check, "gamma", gamma, c)
    beta4 = channel_parameter(check, "beta", beta, c)
    groups = check.integer("G", G, low=1)
    if c % groups:
        raise check.error(f"G must divide the number of channels C = {c} (from x); got "
                          f"G = {groups}")
    if x.shape[2] * x.shape[3] == 0:
        raise check.error(f"x must have H*W >= 1 positions for the statistics of a group "
                          f"(a mean of nothing is undefined); got x.shape = {x.shape}")
    eps = norm_eps(check, "gn_param", gn_param, x.dtype)
    moments = standardize(group_view(x, groups), (-1,), eps)
    xhat = moments.xhat.reshape(x.shape)
    out = gamma4 * xhat
    out += beta4  # in place: no second array of x's size
    return out, (xhat, 1 / moments.std, gamma4, np.shape(gamma), np.shape(beta))


@backward_of(spatial_groupnorm_forward)
def spatial_groupnorm_backward(dout, cache):
    """Backward pass of `spatial_groupnorm_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, C, H, W), upstream gradient
    cache : from `spatial_groupnorm_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    dgamma : ndarray of gamma's shape, (1, C, 1, 1) or (C,)
    dbeta : ndarray of beta's shape
    """
    xhat, inv_std, gamma4, gamma_shape, beta_shape = cache
    groups = inv_std.shape[1]
    dbeta = sum_over((0, 2, 3), dout).reshape(beta_shape)
    dgamma = sum_over((0, 2, 3), dout, xhat).reshape(gamma_shape)
    # dxhat in a kept scratch array, as layer norm's (`layers.layernorm`).
    dxhat = np.multiply(dout, gamma4, out=scratch("groupnorm_dxhat", xhat.shape, xhat.dtype))
    dx = standardize_backward(group_view(dxhat, groups), group_view(xhat, groups),
                              inv_std, axis=-1)
    return dx.reshape(xhat.shape), dgamma, dbeta


def group_view(x, groups):
    """x (N, C, H, W) as (N, G, (C/G)*H*W): each group's values along the last axis.

    The sizes are spelled out: a -1 cannot be inferred when N = 0.
    """
    n, c, h, w = x.shape
    return x.reshape(n, groups, (c // groups) * h * w)


def channel_parameter(check, name, value, channels):
    """A per-channel parameter of shape (1, C, 1, 1) or (C,), as a (1, C, 1, 1) view."""
    value = check.floats(name, value)
    if value.shape not in ((1, channels, 1, 1), (channels,)):
        raise check.error(f"{name} must have shape (1, C, 1, 1) or (C,) with C = {channels} "
                          f"from x; got {describe(value)}")
    return value.reshape(1, channels, 1, 1)


@register(spatial_batchnorm_forward, spatial_batchnorm_backward)
def spatial_batchnorm_example(rng, dtype):
    # N*H*W >= 3, for the reason batch norm needs N >= 3 (see batchnorm_example).
    n, c, h, w = dims(rng, (1, 3), (1, 3), (2, 3), (2, 3))
    gamma, beta = scale_shift_example(rng, c, dtype)
    bn_param = {"mode": "train", "momentum": 0.8}
    x = normal(rng, (n, c, h, w), dtype, scale=2.0, loc=0.5)
    return Example((x, gamma, beta, bn_param))


@register(spatial_groupnorm_forward, spatial_groupnorm_backward)
def spatial_groupnorm_example(rng, dtype):
    # D = (C/G)*H*W >= 4: two values per group would always normalize to +-1.
    n, groups, per_group, h, w = dims(rng, (1, 2), (1, 3), (1, 2), (2, 3), (2, 3))
    c = groups * per_group
    gamma, beta = scale_shift_example(rng, c, dtype)
    if rng.random() < 0.5:
        gamma, beta = gamma.reshape(1, c, 1, 1), beta.reshape(1, c, 1, 1)
    x = normal(rng, (n, c, h, w), dtype, scale=2.0, loc=0.5)
    return Example((x, gamma, beta, groups, {"eps": 1e-5}))
