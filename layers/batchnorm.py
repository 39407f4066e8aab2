"""Batch normalization over the batch axis (Ioffe & Szegedy 2015), in CS231n's form.

Forward, per feature over the batch: xhat = (x - mean) / sqrt(var + eps) with the biased
variance, out = gamma * xhat + beta. Backward with dxhat = dout * gamma, in train mode
where mean and var depend on x:

    dx = (inv_std / N) * (N * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)),

sums over the batch and inv_std = 1 / sqrt(var + eps). `batchnorm_backward` derives it
step by step through the computational graph; `batchnorm_backward_alt` uses this closed
form. In test mode mean and var are the running statistics, constants, so the layer is
affine: dx = dout * gamma * inv_std.

Running statistics, CS231n's convention:
running = momentum * running + (1 - momentum) * batch statistic, with the biased batch
variance, from running_mean = running_var = 0 when bn_param has none. PyTorch differs in
all three: its ``momentum`` is the weight of the NEW statistic (PyTorch's 0.1 is our 0.9),
its running_var is updated with the unbiased variance (divided by N - 1), and it starts
running_var at ones.
"""

import math
from typing import NamedTuple

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, describe, differentiable, is_float_array, upstream
from .registry import Example, register

__all__ = ["batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt"]


class BatchnormCache(NamedTuple):
    """What both batch-norm backwards need from the forward pass.

    Shapes for x of shape (N, D); for feature maps (N, C, H, W) (spatial batch norm) the
    statistics are (1, C, 1, 1) and gamma (C, 1, 1), so that they broadcast against x.
    """

    mode: str
    axes: tuple           # the axes the statistics run over: (0,), or (0, 2, 3)
    xmu: np.ndarray       # x - mean, (N, D)
    std: np.ndarray       # sqrt(var + eps), (1, D)
    inv_std: np.ndarray   # 1 / std, (1, D)
    xhat: np.ndarray      # xmu * inv_std, (N, D)
    gamma: np.ndarray     # (D,)


@differentiable("x", "gamma", "beta")
def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of each feature over the batch, then a scale and a shift.

    Parameters
    ----------
    x : ndarray of shape (N, D), float32 or float64
        In train mode N >= 2: the statistics of one example are meaningless (its variance
        is 0), so N = 1 raises ValueError, as PyTorch does.
    gamma : ndarray of shape (D,), scale
    beta : ndarray of shape (D,), shift
    bn_param : dict
        - ``'mode'``: ``'train'`` (normalize with the batch statistics and update the
          running ones) or ``'test'`` (normalize with the running statistics). Required.
        - ``'eps'``: added to the variance, default 1e-5.
        - ``'momentum'``: in [0, 1], default 0.9; the weight of the OLD running value
          (see the module docstring for PyTorch's convention).
        - ``'running_mean'``, ``'running_var'``: float arrays of shape (D,); both start at
          zeros in x's dtype when absent, as in CS231n's reference (PyTorch starts the
          running variance at ones).

        The one exception to purity in the library: in train mode the entries
        ``bn_param['running_mean']`` and ``bn_param['running_var']`` are REBOUND to new
        arrays (in their own dtype) with the updated statistics, as CS231n code expects.
        The arrays the caller passed in are never written into.

    Returns
    -------
    out : ndarray of shape (N, D), x's dtype
    cache : for `batchnorm_backward` or `batchnorm_backward_alt`

    Notes
    -----
    A constant feature (zero batch variance) is normalized to xhat = 0, so its output is
    beta, with finite gradients: eps keeps 1 / sqrt(var + eps) finite.

    Examples
    --------
    >>> x = np.array([[1.0], [3.0]]); bn_param = {"mode": "train"}
    >>> out, _ = batchnorm_forward(x, np.ones(1), np.zeros(1), bn_param)
    >>> out.round(4), bn_param["running_mean"], bn_param["running_var"]
    (array([[-1.],
           [ 1.]]), array([0.2]), array([0.1]))
    """
    return normalize_features("batchnorm_forward", x, "N D", gamma, beta, bn_param)


def normalize_features(func, x, x_spec, gamma, beta, bn_param):
    """`batchnorm_forward` for x of shape `x_spec`, "N D" or "N C H W" (feature maps).

    Each feature (axis 1) is normalized over all the other axes; gamma, beta and the
    running statistics have shape (D,) or (C,). Errors name `func`.
    """
    feature = x_spec.split()[1]
    check = Args(func)
    x = check.floats("x", x, x_spec)
    if x.shape[1] == 0:
        raise check.error(f"x must have {feature} >= 1 features along axis 1; got "
                          f"x.shape = {x.shape}")
    gamma = check.floats("gamma", gamma, feature)
    beta = check.floats("beta", beta, feature)
    bn_param = check.mapping("bn_param", bn_param)
    mode, eps, momentum, running_mean, running_var = bn_settings(check, bn_param, feature,
                                                                 x.dtype)

    axes = (0, *range(2, x.ndim))
    # Per-feature values as (D,), or as (C, 1, 1) to broadcast against (N, C, H, W).
    per_feature = (-1,) + (1,) * (x.ndim - 2)
    count = x.size // x.shape[1]
    if mode == "train":
        if count < 2:
            counted = "*".join(x_spec.replace(feature, "").split())
            raise check.error(f"x must hold {counted} >= 2 examples in train mode: the "
                              f"variance of a batch of one is 0 and every output would be "
                              f"beta; got x.shape = {x.shape}")
        mean = sum_over(axes, x) / count
        xmu = x - mean
        var = sum_over(axes, xmu, xmu) / count
        bn_param["running_mean"] = _moving_average(running_mean, mean.ravel(), momentum)
        bn_param["running_var"] = _moving_average(running_var, var.ravel(), momentum)
    else:
        xmu = x - running_mean.astype(x.dtype).reshape(per_feature)
        var = running_var.astype(x.dtype).reshape(per_feature)
    std = np.sqrt(var + eps)
    inv_std = 1 / std
    xhat = xmu * inv_std
    gamma = gamma.reshape(per_feature)
    out = xhat * gamma
    out += beta.reshape(per_feature)
    return out, BatchnormCache(mode, axes, xmu, std, inv_std, xhat, gamma)


@backward_of(batchnorm_forward)
def batchnorm_backward(dout, cache):
    """Backward pass of `batchnorm_forward`, step by step through its computational graph.

    Parameters
    ----------
    dout : ndarray of shape (N, D), upstream gradient
    cache : from `batchnorm_forward`

    Returns
    -------
    dx : ndarray of shape (N, D)
    dgamma : ndarray of shape (D,)
    dbeta : ndarray of shape (D,)
    """
    return _backward("batchnorm_backward", dout, cache, _dx_through_graph)


@backward_of(batchnorm_forward)
def batchnorm_backward_alt(dout, cache):
    """Backward pass of `batchnorm_forward` with the simplified closed form of dx.

    dx = (gamma * inv_std / N) * (N * dout - sum(dout) - xhat * sum(dout * xhat)), sums
    over the batch.

    Parameters
    ----------
    dout : ndarray of shape (N, D), upstream gradient
    cache : from `batchnorm_forward`

    Returns
    -------
    dx : ndarray of shape (N, D)
    dgamma : ndarray of shape (D,)
    dbeta : ndarray of shape (D,)
    """
    return closed_form_backward("batchnorm_backward_alt", dout, cache)


def closed_form_backward(func, dout, cache):
    """(dx, dgamma, dbeta) from a `normalize_features` cache, dx in closed form; errors
    name `func`. Shared by batch norm and spatial batch norm."""
    return _backward(func, dout, cache, _dx_closed_form)


def standardize_backward(dxhat, xhat, inv_std, axis, sums=None):
    """Gradient through xhat = (x - mean) / sqrt(var + eps), statistics taken along `axis`.

    dx = (inv_std / M) * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), with M the
    number of elements along `axis` (an int or a tuple of ints) and the sums along it.
    Shared by batch, layer and group normalization. `inv_std` and `sums`, when given as
    ``(sum(dxhat), sum(dxhat * xhat))`` by a caller that already has them, must
    broadcast against xhat (the summed axes kept with length 1).
    """
    axes = axis if isinstance(axis, tuple) else (axis,)
    count = math.prod(xhat.shape[a] for a in axes)
    if sums is None:
        sums = sum_over(axes, dxhat), sum_over(axes, dxhat, xhat)
    sum_dxhat, sum_dxhat_xhat = sums
    # dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), built in place
    # in the one new array.
    dx = xhat * (sum_dxhat_xhat / -count)
    dx += dxhat
    dx -= sum_dxhat / count
    dx *= inv_std
    return dx


def sum_over(axes, *factors):
    """The sum over `axes` (a tuple) of the product of `factors`, arrays of one shape.

    The summed axes are kept with length 1, so the result broadcasts against the factors.
    np.einsum multiplies while it sums: one pass over memory and no temporary product,
    and it also beats ndarray.sum over leading axes such as (0, 2, 3) of (N, C, H, W).
    """
    ndim = factors[0].ndim
    axes = {a % ndim for a in axes}
    letters = "abcdefghijklmnopqrstuvwxyz"[:ndim]
    kept = "".join(letter for i, letter in enumerate(letters) if i not in axes)
    total = np.einsum(",".join([letters] * len(factors)) + "->" + kept, *factors)
    return total.reshape([1 if i in axes else n for i, n in enumerate(factors[0].shape)])


def _backward(func, dout, cache, train_dx):
    """dgamma and dbeta, and dx from `train_dx` in train mode or the affine map in test mode."""
    dout = upstream(func, dout, cache.xhat.shape, cache.xhat.dtype)
    dbeta = sum_over(cache.axes, dout)
    dgamma = sum_over(cache.axes, dout, cache.xhat)
    if cache.mode == "test":
        dx = dout * (cache.gamma * cache.inv_std)
    else:
        dx = train_dx(dout, dgamma, dbeta, cache)
    return dx, dgamma.ravel(), dbeta.ravel()


def _dx_through_graph(dout, dgamma, dbeta, cache):
    """dx by walking back through xmu = x - mean, var = mean(xmu^2), std, inv_std, xhat."""
    count = dout.size // cache.std.size
    dxhat = dout * cache.gamma
    # xhat = xmu * inv_std: xmu reaches xhat directly and through inv_std.
    dinv_std = sum_over(cache.axes, dxhat, cache.xmu)
    # dxhat is not needed past this point: dxmu takes over its memory.
    dxmu = dxhat
    dxmu *= cache.inv_std
    # inv_std = 1 / std, std = sqrt(var + eps), var = mean(xmu^2).
    dstd = -dinv_std / (cache.std * cache.std)
    dvar = dstd / (2 * cache.std)
    dxmu += cache.xmu * ((2 / count) * dvar)
    # xmu = x - mean(x): x reaches xmu directly and through the mean.
    dmean = -sum_over(cache.axes, dxmu)
    dxmu += dmean / count
    return dxmu


def _dx_closed_form(dout, dgamma, dbeta, cache):
    """gamma is constant along the batch, so dx is the standardization's backward of dout
    scaled by gamma, and the sums it needs are dbeta and dgamma."""
    return standardize_backward(dout, cache.xhat, cache.gamma * cache.inv_std, cache.axes,
                                sums=(dbeta, dgamma))


def bn_settings(check, bn_param, feature, dtype):
    """(mode, eps, momentum, running_mean, running_var) from the dict `bn_param`,
    validated with `check`, in which the dim `feature` ("D", "C", ...) is already bound;
    absent running statistics default to zeros of `dtype`."""
    mode = check.choice("bn_param['mode']", bn_param.get("mode"), ("train", "test"))
    eps = check.number("bn_param['eps']", bn_param.get("eps", 1e-5), low=0, low_open=True)
    momentum = check.number("bn_param['momentum']", bn_param.get("momentum", 0.9),
                            low=0, high=1)
    running_mean = _running_statistic(check, bn_param, "running_mean", dtype, feature)
    running_var = _running_statistic(check, bn_param, "running_var", dtype, feature)
    return mode, eps, momentum, running_mean, running_var


def _running_statistic(check, bn_param, key, dtype, feature):
    """bn_param[key] validated as a float array of shape (D,), or zeros when absent.

    `feature` names the feature dimension in messages: "D", or "C" for feature maps.
    """
    label = f"bn_param[{key!r}]"
    if key not in bn_param:
        return np.zeros(check.dim(feature), dtype=dtype)
    value = bn_param[key]
    if not is_float_array(value):
        raise check.error(f"{label} must be a floating-point array (float32 or float64) of "
                          f"shape ({feature},); got {describe(value)}", TypeError)
    value = np.asarray(value)
    check.shape(label, value, feature)
    if key == "running_var" and np.any(value < 0):
        raise check.error(f"{label} must be non-negative; got a minimum of {value.min()}")
    return value


def _moving_average(running, batch, momentum):
    """CS231n's update, in the running statistic's own dtype: a new array, never in place."""
    return (momentum * running + (1 - momentum) * batch).astype(running.dtype, copy=False)


def scale_shift_example(rng, d, dtype):
    """gamma and beta of shape (d,) for the normalization layers' example inputs.

    gamma stays away from 0: a feature with gamma ~ 0 has dx ~ 0, and the check would
    judge the rounding noise of a vanishing gradient.
    """
    return rng.uniform(0.5, 1.5, d).astype(dtype), normal(rng, (d,), dtype)


@register(batchnorm_forward, batchnorm_backward)
def batchnorm_example(rng, dtype):
    # N >= 3: with N = 2 every xhat is +-1 whatever x, dx is of order eps and the check
    # would compare rounding noise.
    n, d = dims(rng, (3, 6), (1, 4))
    gamma, beta = scale_shift_example(rng, d, dtype)
    bn_param = {"mode": "train", "running_mean": normal(rng, (d,), dtype),
                "running_var": rng.uniform(0.5, 2.0, d).astype(dtype)}
    # x is drawn last: were its normals the generator's first draws, an upstream gradient
    # drawn from a generator with the same seed would be affine in x, and dx would vanish.
    x = normal(rng, (n, d), dtype, scale=2.0, loc=0.5)
    return Example((x, gamma, beta, bn_param))
