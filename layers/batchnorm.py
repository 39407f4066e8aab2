"""Batch normalization over the batch axis (Ioffe & Szegedy 2015), in CS231n's form.

Forward, per feature over the batch: xhat = (x - mean) / sqrt(var + eps) with the biased
variance, out = gamma * xhat + beta. Backward with dxhat = dout * gamma, in train mode
where mean and var depend on x:

    dx = (inv_std / N) * (N * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)),

sums over the batch and inv_std = 1 / sqrt(var + eps). `batchnorm_backward` derives it
step by step through the computational graph; `batchnorm_backward_alt` uses this closed
form. In test mode mean and var are the running statistics, constants, so the layer is
affine: dx = dout * gamma * inv_std.

Across the whole floating-point range (`standardize`): where the sums of the statistics
would overflow or underflow, they are taken of x shifted by the midpoint of its range and
divided by a power of two, so that inputs near the largest float32 (or float64) normalize
as well as inputs near 1, and std = sqrt(var + eps) is formed as
hypot(sqrt(var), sqrt(eps)). The graph-walking backward runs in units of a power of two
near std for the same reason.

With numba installed (the ``fast`` extra), train mode on inputs of at least
`layers._fused_norms.MIN_SIZE` elements runs as compiled kernels: the same arithmetic in
two passes each way, tested equal to this module's NumPy code to rounding.
Inputs whose statistics ask for the robust path above still take it, and a cache the
kernels made goes back through them in closed form, whichever backward is called.

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

from . import _fused_norms as fused
from ._examples import dims, normal
from .scratch import scratch
from .contract import Args, backward_of, describe, differentiable, is_float_array
from .registry import Example, register

__all__ = ["batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt"]


class BatchnormCache(NamedTuple):
    """What both batch-norm backwards need from the forward pass.

    Shapes for x of shape (N, D); for feature maps (N, C, H, W) (spatial batch norm) the
    statistics are (1, C, 1, 1) and gamma (C, 1, 1), so that they broadcast against x.
    """

    mode: str
    axes: tuple           # the axes the statistics run over: (0,), or (0, 2, 3)
    std: np.ndarray       # sqrt(var + eps), (1, D)
    inv_std: np.ndarray   # 1 / std, (1, D)
    xhat: np.ndarray      # (x - mean) * inv_std, (N, D)
    gamma: np.ndarray     # (D,)
    fused: bool = False   # made by the compiled kernels (`layers._fused_norms`)


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
          running variance at ones). NaN is refused. A batch variance beyond
          running_var's dtype (float32 inputs beyond about 1.8e19, float64 beyond 1.3e154)
          makes the running variance +inf: train mode takes it, test mode refuses it (keep
          float64 running statistics for float32 inputs of that size).
        - ``'train'``, ``'test'``: ignored; CS231n's starter code of 2016-2017 sets
          ``bn_param[mode] = mode``.

        Any other key is a ValueError. eps must stay positive in x's dtype (1e-50 is 0
        in float32).

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
    return normalize_features(x, "N D", gamma, beta, bn_param)


def normalize_features(x, x_spec, gamma, beta, bn_param):
    """`batchnorm_forward` for x of shape `x_spec`, "N D" or "N C H W" (feature maps).

    Each feature (axis 1) is normalized over all the other axes; gamma, beta and the
    running statistics have shape (D,) or (C,).
    """
    feature = x_spec.split()[1]
    check = Args()
    x = check.floats("x", x, x_spec)
    if x.shape[1] == 0:
        raise check.error(f"x must have {feature} >= 1 features along axis 1; got "
                          f"x.shape = {x.shape}")
    gamma = check.floats("gamma", gamma, feature)
    beta = check.floats("beta", beta, feature)
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
        out, moments = _fused_train_pass(x, gamma, beta, eps)
        if moments is None:
            moments = standardize(x, axes, eps)
        xhat, std = moments.xhat, moments.std
        var = _batch_variance(moments, running_var.dtype)
        bn_param["running_mean"] = _moving_average(running_mean, moments.mean.ravel(),
                                                   momentum)
        bn_param["running_var"] = _moving_average(running_var, var.ravel(), momentum)
    else:
        out = None
        # sqrt(var + eps) in the wider dtype of the two: a float64 running variance of
        # 1e40 has a float32 square root.
        wide = np.promote_types(running_var.dtype, x.dtype)
        std = np.sqrt(running_var.astype(wide) + eps).astype(x.dtype).reshape(per_feature)
        xhat = x - running_mean.astype(x.dtype).reshape(per_feature)
        xhat /= std
    inv_std = 1 / std
    gamma = gamma.reshape(per_feature)
    fused_pass = out is not None
    if not fused_pass:
        out = xhat * gamma
        out += beta.reshape(per_feature)
    return out, BatchnormCache(mode, axes, std, inv_std, xhat, gamma, fused_pass)


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
    return _backward(dout, cache, _dx_through_graph)


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
    return closed_form_backward(dout, cache)


def closed_form_backward(dout, cache):
    """(dx, dgamma, dbeta) from a `normalize_features` cache, dx in closed form. Shared by
    batch norm and spatial batch norm."""
    return _backward(dout, cache, _dx_closed_form)


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


def _backward(dout, cache, train_dx):
    """dgamma and dbeta, and dx from `train_dx` in train mode or the affine map in test mode.

    A cache the compiled kernels made goes back through them (the closed form, whichever
    backward was called).
    """
    if cache.fused:
        x3_shape = (dout.shape[0], dout.shape[1], -1)
        dx, dgamma, dbeta = fused.features_gradient(
            np.ascontiguousarray(dout).reshape(x3_shape), cache.xhat.reshape(x3_shape),
            (cache.gamma * cache.inv_std).ravel(), dout.size // dout.shape[1])
        return dx.reshape(dout.shape), dgamma, dbeta
    dbeta = sum_over(cache.axes, dout)
    dgamma = sum_over(cache.axes, dout, cache.xhat)
    if cache.mode == "test":
        dx = dout * (cache.gamma * cache.inv_std)
    else:
        dx = train_dx(dout, dgamma, dbeta, cache)
    return dx, dgamma.ravel(), dbeta.ravel()


def _dx_through_graph(dout, dgamma, dbeta, cache):
    """dx by walking back through xmu = x - mean, var = mean(xmu^2), std, inv_std, xhat.

    Every node from var to inv_std holds one value per feature, so the walk carries its
    local gradients as per-feature factors and touches arrays of x's size only where xmu
    and x take part. The factors are written with xhat = xmu * inv_std in place of xmu:
    no power of std appears, and the walk neither overflows nor underflows whatever the
    scale of x.
    """
    count = dout.size // cache.std.size
    gamma, inv_std, xhat = cache.gamma, cache.inv_std, cache.xhat
    # out = gamma * xhat + beta, so dxhat = gamma * dout, and sum(dxhat * xhat) is
    # gamma * dgamma.
    # xhat = xmu * inv_std: xmu reaches xhat directly (dxhat * inv_std) and through
    # inv_std, whose gradient is dinv_std = sum(dxhat * xmu) = std * gamma * dgamma.
    dxmu = dout * (gamma * inv_std)
    # inv_std = 1 / std: dstd = -dinv_std * inv_std^2; std = sqrt(var + eps):
    # dvar = dstd * inv_std / 2; var = mean(xmu^2): xmu gets 2 * xmu * dvar / count,
    # which with xmu = xhat * std is xhat * (-gamma * dgamma * inv_std / count).
    # That term goes through a kept scratch array: a temporary of x's size would be
    # faulted in afresh by many calls (`layers.scratch`).
    dxmu += np.multiply(xhat, gamma.reshape(dgamma.shape) * dgamma * inv_std / -count,
                        out=scratch("batchnorm_variance_term", xhat.shape, xhat.dtype))
    # xmu = x - mean(x): x reaches xmu directly and through the mean.
    dmean = -sum_over(cache.axes, dxmu)
    dxmu += dmean / count
    return dxmu


def _dx_closed_form(dout, dgamma, dbeta, cache):
    """gamma is constant along the batch, so dx is the standardization's backward of dout
    scaled by gamma, and the sums it needs are dbeta and dgamma."""
    return standardize_backward(dout, cache.xhat, cache.gamma * cache.inv_std, cache.axes,
                                sums=(dbeta, dgamma))


# 'train' and 'test' are ignored: CS231n's starter code of 2016-2017 sets bn_param[mode] =
# mode (the key is the mode's value), and that code must run.
BN_PARAM_KEYS = ("mode", "eps", "momentum", "running_mean", "running_var", "train", "test")


def bn_settings(check, bn_param, feature, dtype):
    """(mode, eps, momentum, running_mean, running_var) from the dict `bn_param`,
    validated with `check`, in which the dim `feature` ("D", "C", ...) is already bound;
    absent running statistics default to zeros of `dtype`, the dtype of x."""
    bn_param = check.mapping("bn_param", bn_param, BN_PARAM_KEYS)
    mode = check.choice("bn_param['mode']", bn_param.get("mode"), ("train", "test"))
    eps = check.eps("bn_param['eps']", bn_param.get("eps", 1e-5), dtype)
    momentum = check.number("bn_param['momentum']", bn_param.get("momentum", 0.9),
                            low=0, high=1)
    running_mean = _running_statistic(check, bn_param, "running_mean", dtype, feature)
    running_var = _running_statistic(check, bn_param, "running_var", dtype, feature)
    if mode == "test" and np.isinf(running_var).any():
        index = int(np.flatnonzero(np.isinf(running_var))[0])
        raise check.error(f"bn_param['running_var'] must be finite in test mode; got inf "
                          f"at index {index}: a batch variance beyond the largest "
                          f"{running_var.dtype} overflowed it in train mode (keep the "
                          f"running statistics in float64)")
    return mode, eps, momentum, running_mean, running_var


def norm_eps(check, name, param, dtype):
    """eps from the parameter dict `name` of layer or group norm, which may also hold the
    'mode' CS231n's code sets (the layers ignore it); no other key."""
    param = check.mapping(name, param, ("eps", "mode"))
    if "mode" in param:
        check.choice(f"{name}['mode']", param["mode"], ("train", "test"))
    return check.eps(f"{name}['eps']", param.get("eps", 1e-5), dtype)


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
    # A running mean stays within the range of the batch means; a running variance
    # becomes +inf when a batch variance overflows its dtype (see `_batch_variance`).
    bad = np.isnan(value)
    if key == "running_mean":
        bad |= np.isinf(value)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise check.error(f"{label} must not hold NaN{' or inf' * (key == 'running_mean')}; "
                          f"got {value[index]} at index {index}")
    if key == "running_var" and np.any(value < 0):
        raise check.error(f"{label} must be non-negative; got a minimum of {value.min()}")
    return value


def _moving_average(running, batch, momentum):
    """CS231n's update, in the running statistic's own dtype: a new array, never in place.

    A term of weight 0 is left out rather than multiplied by 0, which would turn an
    infinite running variance into NaN; a sum beyond the dtype's range is +inf.
    """
    with np.errstate(over="ignore"):
        kept = momentum * running if momentum else 0
        added = (1 - momentum) * batch if momentum != 1 else 0
        return np.asarray(kept + added).astype(running.dtype, copy=False)


class Moments(NamedTuple):
    """x standardized over some axes, and its statistics (the axes kept with length 1).

    The biased variance is ``var_units * unit**2``: `unit` is a power of two, so that
    the product is exact in any dtype wide enough to hold it.
    """

    xhat: np.ndarray       # (x - mean) / std
    std: np.ndarray        # sqrt(var + eps)
    mean: np.ndarray
    var_units: np.ndarray  # var / unit**2
    unit: np.ndarray


def standardize(x, axes, eps):
    """xhat = (x - mean) / sqrt(var + eps) over `axes` (a tuple), for any finite x.

    Shared by batch, layer and group normalization. The common case takes three passes
    over x: the mean, the deviations x - mean, and their variance, in one einsum each.
    Where a cheap test of those statistics says the result could be off,
    `_standardize_shifted` computes it again: a feature whose mean is large against its
    spread (a constant feature above all), sums that overflow, or a variance too small
    for eps to absorb its underflow.

    Returns
    -------
    Moments, with xhat of x's shape and the statistics of x's shape with `axes` of
    length 1; all in x's dtype.
    """
    axes = tuple(a % x.ndim for a in axes)
    count = math.prod(x.shape[a] for a in axes)
    # Overflow to inf, and inf - inf = NaN, fail the test below.
    with np.errstate(over="ignore", invalid="ignore"):
        mean = sum_over(axes, x) / count
        deviations = x - mean
        var = sum_over(axes, deviations, deviations) / count
    if not moments_hold(mean, var, eps):
        return _standardize_shifted(x, axes, eps)
    std = np.sqrt(var + eps)
    deviations *= 1 / std
    return Moments(deviations, std, mean, var, np.ones_like(std))


def moments_hold(mean, var, eps):
    """Whether the mean and biased variance of the common path (x not shifted first) are
    as right as the robust path's; `standardize` and the compiled kernels test theirs."""
    # Overflow to inf, and inf - inf = NaN, fail the test.
    with np.errstate(over="ignore", invalid="ignore"):
        var_eps = var + eps
        # The computed mean is off by at most about count units of rounding of
        # mean(|x|) <= |mean| + std; where |mean| <= MEAN_TO_STD * std that is a few
        # count units of std, the order of the shifted computation's own error. A
        # constant feature fails the test (its spread is 0 or rounding) unless it is 0.
        return bool(np.isfinite(var_eps).all() and _no_underflow(var_eps)
                    and np.all(np.abs(mean) <= MEAN_TO_STD * np.sqrt(var)))


def _fused_train_pass(x, gamma, beta, eps):
    """(out, Moments) of a batch norm in train mode from the compiled kernels, or
    (None, None) where they are not used (numba absent, x small) or the moments ask for
    the robust path; statistics over every axis but 1, of (N, D) or (N, C, H, W)."""
    if not fused.enabled(x):
        return None, None
    x3 = np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)
    out, xhat, mean, var = fused.standardize_features(x3, np.ascontiguousarray(gamma),
                                                 np.ascontiguousarray(beta), eps)
    if not moments_hold(mean, var, eps):
        return None, None
    per_feature = (1, -1) + (1,) * (x.ndim - 2)
    std = np.sqrt(var + eps).reshape(per_feature)
    return out.reshape(x.shape), Moments(xhat.reshape(x.shape), std, mean.reshape(
        per_feature), var.reshape(per_feature), np.ones_like(std))


# The common path of `standardize` is taken where |mean| <= MEAN_TO_STD * std in every
# feature: inputs of normalization layers sit well inside (0.5 + 2 * randn has 0.25, ReLU
# outputs of a standard normal about 0.7). It saves a pass: the shifted path takes 1.2-1.3
# times as long (benchmarks/bench_norms.py, last section).
MEAN_TO_STD = 4


def _no_underflow(var_eps):
    """Whether var + eps is far enough above the smallest normal number: squares below it
    lose digits (or vanish), negligible only when var + eps is that many units of
    rounding above it."""
    info = np.finfo(var_eps.dtype)
    return bool(np.all(var_eps >= info.tiny / info.eps))


def _standardize_shifted(x, axes, eps):
    """`standardize` for any finite x (`axes` non-negative), at one more pass.

    x is first shifted by its first element along `axes`, so that a constant feature is
    exactly 0 whatever its size (a mean that rounds by one unit would otherwise make
    rounding noise of unit variance), and the mean and variance are taken of the shifted
    values. Where those sums overflow (x beyond about 1e19 in float32, 1e154 in float64:
    before, every xhat came out 0) or the variance is too small for eps to absorb its
    underflow, `_standardize_scaled` takes over, which is right across the whole range
    at twice the cost.
    """
    count = math.prod(x.shape[a] for a in axes)
    first = x[tuple(slice(0, 1) if a in axes else slice(None) for a in range(x.ndim))]
    # Overflow to inf, and inf - inf = NaN, are detected below and handled by the
    # scaled computation.
    with np.errstate(over="ignore", invalid="ignore"):
        deviations = x - first
        mean = sum_over(axes, deviations) / count
        deviations -= mean
        var = sum_over(axes, deviations, deviations) / count
        var_eps = var + eps
    if not (np.isfinite(var_eps).all() and _no_underflow(var_eps)):
        return _standardize_scaled(x, axes, eps)
    std = np.sqrt(var_eps)
    deviations /= std
    return Moments(deviations, std, first + mean, var, np.ones_like(std))


def _standardize_scaled(x, axes, eps):
    """`standardize` right across x's range: in units of a power of two.

    x is shifted by the midpoint of its range along `axes`, which cannot overflow
    (|x - mid| <= half the range), then divided by `unit`, the power of two at or below
    max(half range, sqrt(eps)), exactly: the shifted values lie in (-2, 2) and their
    mean and square sums are computed as if x were of order 1. In those units std / unit
    = hypot(sqrt(var_units), sqrt(eps) / unit) is at least min(1, sqrt(2 / count)), so
    dividing by it is safe, and it never overflows.
    """
    lowest = np.min(x, axis=axes, keepdims=True)
    highest = np.max(x, axis=axes, keepdims=True)
    root_eps = np.sqrt(x.dtype.type(eps))
    count = math.prod(x.shape[a] for a in axes)
    # A feature holding inf or NaN comes out NaN, as NumPy's arithmetic has it, without
    # a warning for the inf - inf on the way.
    with np.errstate(invalid="ignore"):
        mid = lowest / 2 + highest / 2
        unit = power_of_two_at_most(np.maximum(highest / 2 - lowest / 2, root_eps))
        units = x - mid
        units *= 1 / unit
        mean_units = sum_over(axes, units) / count
        units -= mean_units
        var_units = sum_over(axes, units, units) / count
        std_units = np.hypot(np.sqrt(var_units), root_eps / unit)
        units /= std_units
    return Moments(units, std_units * unit, mid + mean_units * unit, var_units, unit)


def power_of_two_at_most(value):
    """The largest power of two <= `value` (positive), elementwise, in its dtype."""
    exponent = np.frexp(value)[1]
    return np.ldexp(np.ones_like(value), exponent - 1)


def _batch_variance(moments, dtype):
    """The biased batch variance in `dtype` (the running variance's); +inf where it is
    beyond that dtype's range, which is the variance rounded to the dtype."""
    with np.errstate(over="ignore"):
        return moments.var_units.astype(dtype) * moments.unit * moments.unit


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
