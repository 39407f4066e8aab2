"""Layer normalization over the last axis (Ba, Kiros & Hinton 2016), in CS231n's form.

Forward, per example over its D features: xhat = (x - mean) / sqrt(var + eps) with the
biased variance, out = gamma * xhat + beta. There are no running statistics: train and
test are the same computation. Backward with dxhat = dout * gamma:

    dx = (inv_std / D) * (D * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)),

sums over the last axis; dgamma and dbeta sum dout * xhat and dout over all other axes.
Large inputs take the compiled kernels where numba is installed, as batch norm's do
(`layers.batchnorm`).
"""

from typing import NamedTuple

import numpy as np

from . import _fused_norms as fused
from ._examples import dims, normal
from .scratch import scratch
from .contract import Args, backward_of, differentiable
from .batchnorm import (moments_hold, norm_eps, scale_shift_example, standardize,
                        standardize_backward, sum_over)
from .registry import Example, register

__all__ = ["layernorm_forward", "layernorm_backward"]


class LayernormCache(NamedTuple):
    """What `layernorm_backward` needs, for x of shape (..., D); it unpacks as the
    tuple (xhat, inv_std, gamma)."""

    xhat: np.ndarray      # (x - mean) * inv_std, (..., D)
    inv_std: np.ndarray   # 1 / sqrt(var + eps), (..., 1)
    gamma: np.ndarray     # (D,)


@differentiable("x", "gamma", "beta")
def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalization of each example over its last axis, then a scale and a shift.

    Parameters
    ----------
    x : ndarray of shape (..., D), float32 or float64
        (N, D) as in CS231n, or (N, T, D) for a sequence of T vectors (transformers).
    gamma : ndarray of shape (D,), scale
    beta : ndarray of shape (D,), shift
    ln_param : dict
        ``'eps'``: added to the variance, default 1e-5; it must stay positive in x's
        dtype. ``'mode'`` (``'train'`` or ``'test'``), which CS231n's networks may set,
        is accepted and ignored: layer normalization has no train/test difference. Any
        other key is a ValueError.

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : for `layernorm_backward`

    Examples
    --------
    >>> out, _ = layernorm_forward(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2), {})
    >>> out.round(4)
    array([[-1.,  1.]])
    """
    check = Args()
    x = check.floats("x", x, "... D")
    if x.shape[-1] == 0:
        raise check.error(f"x must have D >= 1 features along its last axis (the mean of no "
                          f"features is undefined); got x.shape = {x.shape}")
    gamma = check.floats("gamma", gamma, "D")
    beta = check.floats("beta", beta, "D")
    eps = norm_eps(check, "ln_param", ln_param, x.dtype)
    if fused.enabled(x):
        rows = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
        out, xhat, mean, var, inv_std = fused.standardize_rows(
            rows, np.ascontiguousarray(gamma), np.ascontiguousarray(beta), eps)
        if moments_hold(mean, var, eps):
            return out.reshape(x.shape), LayernormCache(
                xhat.reshape(x.shape), inv_std.reshape(*x.shape[:-1], 1), gamma)
    moments = standardize(x, (-1,), eps)
    out = moments.xhat * gamma
    out += beta
    return out, LayernormCache(moments.xhat, 1 / moments.std, gamma)


@backward_of(layernorm_forward)
def layernorm_backward(dout, cache):
    """Backward pass of `layernorm_forward`.

    Parameters
    ----------
    dout : ndarray of x's shape (..., D), upstream gradient
    cache : from `layernorm_forward`

    Returns
    -------
    dx : ndarray of shape (..., D)
    dgamma : ndarray of shape (D,)
    dbeta : ndarray of shape (D,)
    """
    xhat, inv_std, gamma = cache
    # The backward is the closed form on either path, so the kernels take any large one.
    if fused.enabled(xhat):
        width = xhat.shape[-1]
        dx, dgamma, dbeta = fused.rows_gradient(
            np.ascontiguousarray(dout).reshape(-1, width), xhat.reshape(-1, width),
            np.ascontiguousarray(gamma), inv_std.ravel())
        return dx.reshape(xhat.shape), dgamma, dbeta
    leading = tuple(range(xhat.ndim - 1))
    dbeta = sum_over(leading, dout).ravel()
    dgamma = sum_over(leading, dout, xhat).ravel()
    # dxhat in a kept scratch array: only read below, and a temporary of x's size would
    # be faulted in afresh by many calls (`layers.scratch`).
    dxhat = np.multiply(dout, gamma, out=scratch("layernorm_dxhat", xhat.shape, xhat.dtype))
    dx = standardize_backward(dxhat, xhat, inv_std, axis=-1)
    return dx, dgamma, dbeta


@register(layernorm_forward, layernorm_backward)
def layernorm_example(rng, dtype):
    # D >= 3 for the reason batch norm needs N >= 3: two features always give xhat = +-1.
    n, t, d = dims(rng, (1, 3), (1, 3), (3, 6))
    shape = (n, d) if rng.random() < 0.5 else (n, t, d)
    gamma, beta = scale_shift_example(rng, d, dtype)
    x = normal(rng, shape, dtype, scale=2.0, loc=0.5)
    return Example((x, gamma, beta, {"eps": 1e-5}))
