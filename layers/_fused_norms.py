"""The normalization layers' common path fused into a few passes, compiled by numba.

NumPy runs one pass over memory per operation and on one thread; batch, spatial batch
and layer norm are a dozen such passes over arrays that the arithmetic barely touches.
These kernels do the same arithmetic in two passes forward (the moments; then xhat and
out) and two backward (the sums; then dx), on every core. They are an optional speed-up:
`layers.batchnorm.standardize` and the backwards stay the reference, used wherever numba
is not installed, where ``GATELAB_NUMBA=0`` is set, for small arrays, and whenever the
statistics ask for the robust path (the callers test the moments returned here exactly as
they test their own). The tests compare both paths on the same inputs.

Layouts. A per-feature norm (batch norm, spatial batch norm) sees x as (A, C, B) and
normalizes each feature c over axes 0 and 2: (N, D) is (N, D, 1), (N, C, H, W) is
(N, C, H*W). A per-row norm (layer norm) sees x as (R, D) and normalizes each row; its
gamma and beta run along D. Sums are accumulated in float64 for either dtype; every
array returned has x's dtype.
"""

import math
import os

import numpy as np

__all__ = ["enabled", "standardize_features", "features_gradient", "standardize_rows",
           "rows_gradient", "MIN_SIZE"]

# Below this many elements a parallel launch costs more than the passes it saves.
MIN_SIZE = 1 << 15


def _load():
    if os.environ.get("GATELAB_NUMBA", "1") == "0":
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba


_numba = _load()


def enabled(x):
    """Whether x (an ndarray) goes through these kernels: numba is there and x is large."""
    return _numba is not None and x.size >= MIN_SIZE


def _blocks(count, parts):
    """Bounds of `parts` near-equal blocks of range(count), as an int64 array (parts + 1,)."""
    return np.linspace(0, count, parts + 1).astype(np.int64)


if _numba is not None:
    # reassoc lets LLVM reorder the sums into vector lanes; nothing else of fastmath, so
    # that inf and NaN behave as in NumPy and the callers' tests of the moments see them.
    _jit = _numba.njit(parallel=True, cache=True, fastmath={"reassoc"})
    _prange = _numba.prange

    @_jit
    def _column_moments(x, blocks):
        # x (N, D): each thread takes a block of columns and walks the rows, accumulating
        # into arrays of its own so that the inner loop runs along contiguous memory.
        rows, cols = x.shape
        mean = np.empty(cols)
        var = np.empty(cols)
        for t in _prange(len(blocks) - 1):
            c0, c1 = blocks[t], blocks[t + 1]
            total = np.zeros(c1 - c0)
            for a in range(rows):
                row = x[a, c0:c1]
                for c in range(c1 - c0):
                    total[c] += row[c]
            total /= rows
            squares = np.zeros(c1 - c0)
            for a in range(rows):
                row = x[a, c0:c1]
                for c in range(c1 - c0):
                    d = row[c] - total[c]
                    squares[c] += d * d
            mean[c0:c1] = total
            var[c0:c1] = squares / rows
        return mean, var

    @_jit
    def _plane_moments(x):
        # x (A, C, B), B > 1: each feature's planes are contiguous runs of B.
        a_len, c_len, b_len = x.shape
        count = a_len * b_len
        mean = np.empty(c_len)
        var = np.empty(c_len)
        for c in _prange(c_len):
            s = 0.0
            for a in range(a_len):
                for b in range(b_len):
                    s += x[a, c, b]
            m = s / count
            q = 0.0
            for a in range(a_len):
                for b in range(b_len):
                    d = x[a, c, b] - m
                    q += d * d
            mean[c] = m
            var[c] = q / count
        return mean, var

    @_jit
    def _feature_scale(x, mean, inv_std, gamma, beta, xhat, out):
        a_len, c_len, b_len = x.shape
        for ac in _prange(a_len * c_len):
            a, c = ac // c_len, ac % c_len
            m, s, g, bt = mean[c], inv_std[c], gamma[c], beta[c]
            for b in range(b_len):
                h = (x[a, c, b] - m) * s
                xhat[a, c, b] = h
                out[a, c, b] = h * g + bt

    @_jit
    def _column_scale(x, mean, inv_std, gamma, beta, xhat, out):
        rows, cols = x.shape
        for a in _prange(rows):
            for c in range(cols):
                h = (x[a, c] - mean[c]) * inv_std[c]
                xhat[a, c] = h
                out[a, c] = h * gamma[c] + beta[c]

    @_jit
    def _column_sums(dout, xhat, blocks):
        rows, cols = dout.shape
        dbeta = np.empty(cols)
        dgamma = np.empty(cols)
        for t in _prange(len(blocks) - 1):
            c0, c1 = blocks[t], blocks[t + 1]
            s = np.zeros(c1 - c0)
            q = np.zeros(c1 - c0)
            for a in range(rows):
                g_row = dout[a, c0:c1]
                h_row = xhat[a, c0:c1]
                for c in range(c1 - c0):
                    s[c] += g_row[c]
                    q[c] += g_row[c] * h_row[c]
            dbeta[c0:c1] = s
            dgamma[c0:c1] = q
        return dbeta, dgamma

    @_jit
    def _plane_sums(dout, xhat):
        a_len, c_len, b_len = dout.shape
        dbeta = np.empty(c_len)
        dgamma = np.empty(c_len)
        for c in _prange(c_len):
            s = 0.0
            q = 0.0
            for a in range(a_len):
                for b in range(b_len):
                    g = dout[a, c, b]
                    s += g
                    q += g * xhat[a, c, b]
            dbeta[c] = s
            dgamma[c] = q
        return dbeta, dgamma

    @_jit
    def _feature_dx(dout, xhat, scale, shift, slope, dx):
        # dx = scale * dout - shift - slope * xhat, per feature c.
        a_len, c_len, b_len = dout.shape
        for ac in _prange(a_len * c_len):
            a, c = ac // c_len, ac % c_len
            k, h, p = scale[c], shift[c], slope[c]
            for b in range(b_len):
                dx[a, c, b] = k * dout[a, c, b] - h - p * xhat[a, c, b]

    @_jit
    def _column_dx(dout, xhat, scale, shift, slope, dx):
        rows, cols = dout.shape
        for a in _prange(rows):
            for c in range(cols):
                dx[a, c] = scale[c] * dout[a, c] - shift[c] - slope[c] * xhat[a, c]

    @_jit
    def _row_forward(x, gamma, beta, eps, xhat, out, mean, var):
        r_len, d_len = x.shape
        for r in _prange(r_len):
            s = 0.0
            for d in range(d_len):
                s += x[r, d]
            m = s / d_len
            q = 0.0
            for d in range(d_len):
                e = x[r, d] - m
                q += e * e
            v = q / d_len
            mean[r] = m
            var[r] = v
            # The dtype's own sqrt(var + eps), as the NumPy path computes it.
            inv = 1.0 / math.sqrt(v + eps)
            for d in range(d_len):
                h = (x[r, d] - m) * inv
                xhat[r, d] = h
                out[r, d] = h * gamma[d] + beta[d]

    @_jit
    def _row_backward(dout, xhat, gamma, inv_std, dx, blocks):
        rows, cols = dout.shape
        parts = len(blocks) - 1
        dgamma = np.empty((parts, cols))
        dbeta = np.empty((parts, cols))
        for t in _prange(parts):
            # Each block of rows sums its share of dgamma and dbeta in arrays of its own.
            s_part = np.zeros(cols)
            q_part = np.zeros(cols)
            for r in range(blocks[t], blocks[t + 1]):
                g_row = dout[r]
                h_row = xhat[r]
                s = 0.0
                q = 0.0
                for d in range(cols):
                    s_part[d] += g_row[d]
                    q_part[d] += g_row[d] * h_row[d]
                    gh = g_row[d] * gamma[d]
                    s += gh
                    q += gh * h_row[d]
                k = inv_std[r]
                s /= cols
                q /= cols
                dx_row = dx[r]
                for d in range(cols):
                    dx_row[d] = k * (g_row[d] * gamma[d] - s - h_row[d] * q)
            dbeta[t] = s_part
            dgamma[t] = q_part
        return dgamma.sum(axis=0), dbeta.sum(axis=0)


def _threads():
    return _numba.get_num_threads()


def standardize_features(x3, gamma, beta, eps):
    """Per-feature normalization of x3 (A, C, B), C-contiguous, over axes 0 and 2.

    Returns
    -------
    out, xhat : ndarrays of x3's shape and dtype; gamma * xhat + beta, and
        (x - mean) / sqrt(var + eps)
    mean, var : ndarrays of shape (C,), x3's dtype; the biased variance
    """
    dtype = x3.dtype
    columns = x3.shape[2] == 1
    if columns:
        x2 = x3.reshape(x3.shape[:2])
        mean, var = _column_moments(x2, _blocks(x2.shape[1], _threads()))
    else:
        mean, var = _plane_moments(x3)
    # A variance beyond float32's range becomes inf, which sends the caller to the
    # robust path.
    with np.errstate(over="ignore"):
        mean, var = mean.astype(dtype), var.astype(dtype)
        inv_std = 1 / np.sqrt(var + dtype.type(eps))
    xhat = np.empty_like(x3)
    out = np.empty_like(x3)
    if columns:
        _column_scale(x2, mean, inv_std, gamma, beta, xhat.reshape(x2.shape),
                      out.reshape(x2.shape))
    else:
        _feature_scale(x3, mean, inv_std, gamma, beta, xhat, out)
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
    dtype = dout3.dtype
    dx = np.empty_like(dout3)
    scale64 = scale.astype(np.float64)
    if dout3.shape[2] == 1:
        shape = dout3.shape[:2]
        dout2, xhat2 = dout3.reshape(shape), xhat3.reshape(shape)
        dbeta, dgamma = _column_sums(dout2, xhat2, _blocks(shape[1], _threads()))
        _column_dx(dout2, xhat2, scale64, scale64 * dbeta / count, scale64 * dgamma / count,
                   dx.reshape(shape))
    else:
        dbeta, dgamma = _plane_sums(dout3, xhat3)
        _feature_dx(dout3, xhat3, scale64, scale64 * dbeta / count, scale64 * dgamma / count,
                    dx)
    return dx, dgamma.astype(dtype), dbeta.astype(dtype)


def standardize_rows(x2, gamma, beta, eps):
    """Per-row normalization of x2 (R, D), C-contiguous; gamma and beta of shape (D,).

    Returns
    -------
    out, xhat : ndarrays of x2's shape and dtype
    mean, var : ndarrays of shape (R,), x2's dtype
    """
    dtype = x2.dtype
    xhat = np.empty_like(x2)
    out = np.empty_like(x2)
    mean = np.empty(x2.shape[0], dtype)
    var = np.empty(x2.shape[0], dtype)
    _row_forward(x2, gamma, beta, dtype.type(eps), xhat, out, mean, var)
    return out, xhat, mean, var


def rows_gradient(dout2, xhat2, gamma, inv_std):
    """The backward of a per-row norm: dout2, xhat2 (R, D), gamma (D,), inv_std (R,).

    Returns
    -------
    dx : ndarray of shape (R, D)
    dgamma, dbeta : ndarrays of shape (D,)
    """
    dx = np.empty_like(dout2)
    rows = dout2.shape[0]
    dgamma, dbeta = _row_backward(dout2, xhat2, gamma, inv_std, dx,
                                  _blocks(rows, min(rows, _threads())))
    return dx, dgamma.astype(dout2.dtype), dbeta.astype(dout2.dtype)
