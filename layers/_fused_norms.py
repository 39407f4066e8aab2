"""The normalization layers' common path fused into a few passes, compiled by numba.

NumPy runs one pass over memory per operation and on one thread; batch, spatial batch
and layer norm are a dozen such passes over arrays that the arithmetic barely touches.
These kernels do the same arithmetic in two passes forward (the moments; then xhat and
out) and two backward (the sums; then dx). They are an optional speed-up:
`layers.batchnorm.standardize` and the backwards stay the reference, used wherever numba
is not installed, where ``GATELAB_NUMBA=0`` is set, for small arrays, and whenever the
statistics ask for the robust path (the callers test the moments returned here exactly as
they test their own). The tests compare both paths on the same inputs.

Layouts. A per-feature norm (batch norm, spatial batch norm) sees x as (A, C, B) and
normalizes each feature c over axes 0 and 2: (N, D) is (N, D, 1), (N, C, H, W) is
(N, C, H*W). A per-row norm (layer norm) sees x as (R, D) and normalizes each row; its
gamma and beta run along D. Sums are accumulated in float64 for either dtype; the
elementwise arithmetic runs in x's dtype, and every array returned has it. The kernels
themselves are in `layers._norm_kernels`, imported at the first large input.
"""

import os

import numpy as np

__all__ = ["enabled", "standardize_features", "features_gradient", "standardize_rows",
           "rows_gradient", "MIN_SIZE"]

# The kernels were faster from 1024 elements on (benchmarks/bench_norms.py, last
# section); below this size the layers' Python costs dominate either way, and the small
# examples the gradient checker draws keep to the reference, which it checks.
MIN_SIZE = 1 << 12


def _load():
    """The kernels' module, or None where numba is absent or ``GATELAB_NUMBA=0`` is set."""
    if os.environ.get("GATELAB_NUMBA", "1") == "0":
        return None
    try:
        from . import _norm_kernels
    except ImportError:
        return None
    return _norm_kernels


# Resolved at the first input of MIN_SIZE elements or more (`kernels`): numba takes about
# as long to import as the rest of the library, and most programs never normalize a
# large array.
_UNRESOLVED = object()
_kernels = _UNRESOLVED


def kernels():
    """The compiled kernels (`layers._norm_kernels`), imported at the first call; None
    where they are not used (numba absent, ``GATELAB_NUMBA=0``)."""
    global _kernels
    if _kernels is _UNRESOLVED:
        _kernels = _load()
    return _kernels


def enabled(x):
    """Whether x (an ndarray) goes through these kernels: x is large and numba is there."""
    return x.size >= MIN_SIZE and kernels() is not None


def standardize_features(x3, gamma, beta, eps):
    """Per-feature normalization of x3 (A, C, B), C-contiguous, over axes 0 and 2.

    Returns
    -------
    out, xhat : ndarrays of x3's shape and dtype; gamma * xhat + beta, and
        (x - mean) / sqrt(var + eps)
    mean, var : ndarrays of shape (C,), x3's dtype; the biased variance
    """
    k = kernels()
    dtype = x3.dtype
    columns = x3.shape[2] == 1
    if columns:
        x2 = x3.reshape(x3.shape[:2])
        mean, var = k.column_moments(x2)
    else:
        mean, var = k.plane_moments(x3)
    # A variance beyond float32's range becomes inf, which sends the caller to the
    # robust path.
    with np.errstate(over="ignore"):
        mean, var = mean.astype(dtype), var.astype(dtype)
        inv_std = 1 / np.sqrt(var + dtype.type(eps))
    xhat = np.empty_like(x3)
    out = np.empty_like(x3)
    if columns:
        k.column_scale(x2, mean, inv_std, gamma, beta, xhat.reshape(x2.shape),
                       out.reshape(x2.shape))
    else:
        k.plane_scale(x3, mean, inv_std, gamma, beta, xhat, out)
    return out, xhat, mean, var


def features_gradient(dout3, xhat3, scale, count):
    """The closed-form backward of a per-feature norm, dout3 and xhat3 of shape (A, C, B).

    dx = scale * (dout - mean(dout) - xhat * mean(dout * xhat)) with the means over
    `count` = A * B elements per feature and scale = gamma * inv_std, shape (C,).

    Returns
    -------
    dx : ndarray of dout3's shape and dtype
    dgamma, dbeta : ndarrays of shape (C,), dout3's dtype
    """
    k = kernels()
    dtype = dout3.dtype
    dx = np.empty_like(dout3)
    columns = dout3.shape[2] == 1
    if columns:
        shape = dout3.shape[:2]
        dout2, xhat2 = dout3.reshape(shape), xhat3.reshape(shape)
        dbeta, dgamma = k.column_sums(dout2, xhat2)
    else:
        dbeta, dgamma = k.plane_sums(dout3, xhat3)
    # The factors in x's dtype: the elementwise arithmetic runs in it, as NumPy's does.
    factors = [f.astype(dtype) for f in (scale, scale * dbeta / count,
                                          scale * dgamma / count)]
    if columns:
        k.column_dx(dout2, xhat2, *factors, dx.reshape(shape))
    else:
        k.plane_dx(dout3, xhat3, *factors, dx)
    return dx, dgamma.astype(dtype), dbeta.astype(dtype)


def standardize_rows(x2, gamma, beta, eps):
    """Per-row normalization of x2 (R, D), C-contiguous; gamma and beta of shape (D,).

    Returns
    -------
    out, xhat : ndarrays of x2's shape and dtype
    mean, var, inv_std : ndarrays of shape (R,), x2's dtype; inv_std = 1 / sqrt(var + eps)
    """
    k = kernels()
    dtype = x2.dtype
    xhat = np.empty_like(x2)
    out = np.empty_like(x2)
    mean, var, inv_std = (np.empty(x2.shape[0], dtype) for _ in range(3))
    k.row_forward(x2, gamma, beta, dtype.type(eps), xhat, out, mean, var, inv_std)
    return out, xhat, mean, var, inv_std


def rows_gradient(dout2, xhat2, gamma, inv_std):
    """The backward of a per-row norm: dout2, xhat2 (R, D), gamma (D,), inv_std (R,).

    Returns
    -------
    dx : ndarray of shape (R, D)
    dgamma, dbeta : ndarrays of shape (D,)
    """
    k = kernels()
    dx = np.empty_like(dout2)
    dgamma, dbeta = k.row_backward(dout2, xhat2, gamma, inv_std, dx)
    return dx, dgamma.astype(dout2.dtype), dbeta.astype(dout2.dtype)
