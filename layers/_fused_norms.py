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
elementwise arithmetic runs in x's dtype, and every array returned has it.
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


if _numba is not None:
    # One thread, the caller's, as NumPy's own passes: numba's parallel runtimes keep
    # thread pools that spin beside BLAS's and PyTorch's on the same cores, and GNU
    # OpenMP's does not survive a fork (multiprocessing). nogil lets a caller's threads
    # run kernels side by side. reassoc lets LLVM reorder the sums into vector lanes;
    # nothing else of fastmath, so that inf and NaN behave as in NumPy and the callers'
    # tests of the moments see them.
    def _jit(kernel):
        options = {"nogil": True, "fastmath": {"reassoc"}}
        try:
            # Compiled once per machine, into __pycache__ or the user's cache directory.
            return _numba.njit(cache=True, **options)(kernel)
        except RuntimeError:
            # Neither is writable (a read-only install in a sandbox): compiled at the
            # first call in each process instead.
            return _numba.njit(**options)(kernel)

    @_jit
    def _column_moments(x):
        # x (N, D): the rows are walked in order, each feature summed into its own
        # accumulator, so that the inner loop runs along contiguous memory.
        rows, cols = x.shape
        mean = np.zeros(cols)
        for a in range(rows):
            row = x[a]
            for c in range(cols):
                mean[c] += row[c]
        mean /= rows
        var = np.zeros(cols)
        for a in range(rows):
            row = x[a]
            for c in range(cols):
                d = row[c] - mean[c]
                var[c] += d * d
        var /= rows
        return mean, var

    @_jit
    def _plane_moments(x):
        # x (A, C, B), B > 1: each feature's planes are contiguous runs of B.
        a_len, c_len, b_len = x.shape
        count = a_len * b_len
        mean = np.empty(c_len)
        var = np.empty(c_len)
        for c in range(c_len):
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
    def _plane_scale(x, mean, inv_std, gamma, beta, xhat, out):
        a_len, c_len, b_len = x.shape
        for a in range(a_len):
            for c in range(c_len):
                m, s, g, bt = mean[c], inv_std[c], gamma[c], beta[c]
                for b in range(b_len):
                    h = (x[a, c, b] - m) * s
                    xhat[a, c, b] = h
                    out[a, c, b] = h * g + bt

    @_jit
    def _column_scale(x, mean, inv_std, gamma, beta, xhat, out):
        rows, cols = x.shape
        for a in range(rows):
            for c in range(cols):
                h = (x[a, c] - mean[c]) * inv_std[c]
                xhat[a, c] = h
                out[a, c] = h * gamma[c] + beta[c]

    @_jit
    def _column_sums(dout, xhat):
        rows, cols = dout.shape
        dbeta = np.zeros(cols)
        dgamma = np.zeros(cols)
        for a in range(rows):
            g_row = dout[a]
            h_row = xhat[a]
            for c in range(cols):
                dbeta[c] += g_row[c]
                dgamma[c] += g_row[c] * h_row[c]
        return dbeta, dgamma

    @_jit
    def _plane_sums(dout, xhat):
        a_len, c_len, b_len = dout.shape
        dbeta = np.empty(c_len)
        dgamma = np.empty(c_len)
        for c in range(c_len):
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
    def _plane_dx(dout, xhat, scale, shift, slope, dx):
        # dx = scale * dout - shift - slope * xhat, per feature c.
        a_len, c_len, b_len = dout.shape
        for a in range(a_len):
            for c in range(c_len):
                k, h, p = scale[c], shift[c], slope[c]
                for b in range(b_len):
                    dx[a, c, b] = k * dout[a, c, b] - h - p * xhat[a, c, b]

    @_jit
    def _column_dx(dout, xhat, scale, shift, slope, dx):
        rows, cols = dout.shape
        for a in range(rows):
            for c in range(cols):
                dx[a, c] = scale[c] * dout[a, c] - shift[c] - slope[c] * xhat[a, c]

    @_jit
    def _row_forward(x, gamma, beta, eps, xhat, out, mean, var, inv_std):
        rows, cols = x.shape
        for r in range(rows):
            row = x[r]
            s = 0.0
            for d in range(cols):
                s += row[d]
            mean[r] = s / cols
            m = mean[r]
            q = 0.0
            for d in range(cols):
                e = row[d] - m
                q += e * e
            var[r] = q / cols
            # Read back from x's dtype, as are m above and inv below: the elementwise
            # arithmetic then runs in that dtype, as NumPy's does (float32 at twice the
            # width of float64).
            inv_std[r] = 1 / np.sqrt(var[r] + eps)
            inv = inv_std[r]
            h_row = xhat[r]
            out_row = out[r]
            for d in range(cols):
                h = (row[d] - m) * inv
                h_row[d] = h
                out_row[d] = h * gamma[d] + beta[d]

    @_jit
    def _row_backward(dout, xhat, gamma, inv_std, dx):
        rows, cols = dout.shape
        dgamma = np.zeros(cols)
        dbeta = np.zeros(cols)
        # The row's two means in x's dtype, for the elementwise arithmetic.
        means = np.empty(2, dout.dtype)
        for r in range(rows):
            g_row = dout[r]
            h_row = xhat[r]
            s = 0.0
            q = 0.0
            for d in range(cols):
                dbeta[d] += g_row[d]
                dgamma[d] += g_row[d] * h_row[d]
                gh = g_row[d] * gamma[d]
                s += gh
                q += gh * h_row[d]
            means[0] = s / cols
            means[1] = q / cols
            k, mean_g, mean_gh = inv_std[r], means[0], means[1]
            dx_row = dx[r]
            for d in range(cols):
                dx_row[d] = k * (g_row[d] * gamma[d] - mean_g - h_row[d] * mean_gh)
        return dgamma, dbeta


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
        mean, var = _column_moments(x2)
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
        _plane_scale(x3, mean, inv_std, gamma, beta, xhat, out)
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
    columns = dout3.shape[2] == 1
    if columns:
        shape = dout3.shape[:2]
        dout2, xhat2 = dout3.reshape(shape), xhat3.reshape(shape)
        dbeta, dgamma = _column_sums(dout2, xhat2)
    else:
        dbeta, dgamma = _plane_sums(dout3, xhat3)
    # The factors in x's dtype: the elementwise arithmetic runs in it, as NumPy's does.
    factors = [f.astype(dtype) for f in (scale, scale * dbeta / count,
                                          scale * dgamma / count)]
    if columns:
        _column_dx(dout2, xhat2, *factors, dx.reshape(shape))
    else:
        _plane_dx(dout3, xhat3, *factors, dx)
    return dx, dgamma.astype(dtype), dbeta.astype(dtype)


def standardize_rows(x2, gamma, beta, eps):
    """Per-row normalization of x2 (R, D), C-contiguous; gamma and beta of shape (D,).

    Returns
    -------
    out, xhat : ndarrays of x2's shape and dtype
    mean, var, inv_std : ndarrays of shape (R,), x2's dtype; inv_std = 1 / sqrt(var + eps)
    """
    dtype = x2.dtype
    xhat = np.empty_like(x2)
    out = np.empty_like(x2)
    mean, var, inv_std = (np.empty(x2.shape[0], dtype) for _ in range(3))
    _row_forward(x2, gamma, beta, dtype.type(eps), xhat, out, mean, var, inv_std)
    return out, xhat, mean, var, inv_std


def rows_gradient(dout2, xhat2, gamma, inv_std):
    """The backward of a per-row norm: dout2, xhat2 (R, D), gamma (D,), inv_std (R,).

    Returns
    -------
    dx : ndarray of shape (R, D)
    dgamma, dbeta : ndarrays of shape (D,)
    """
    dx = np.empty_like(dout2)
    dgamma, dbeta = _row_backward(dout2, xhat2, gamma, inv_std, dx)
    return dx, dgamma.astype(dout2.dtype), dbeta.astype(dout2.dtype)
