"""The normalization layers' compiled kernels (numba), for `layers._fused_norms`.

Importing this module imports numba; `layers._fused_norms` imports it at the first input
large enough to use it, so that ``import layers`` does not pay for numba. The kernels take
C-contiguous arrays and write into the output arrays they are given; the layouts are
described in `layers._fused_norms`.
"""

import numba
import numpy as np

__all__ = ["column_moments", "plane_moments", "plane_scale", "column_scale", "column_sums",
           "plane_sums", "plane_dx", "column_dx", "row_forward", "row_backward"]

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
        return numba.njit(cache=True, **options)(kernel)
    except RuntimeError:
        # Neither is writable (a read-only install in a sandbox): compiled at the
        # first call in each process instead.
        return numba.njit(**options)(kernel)


@_jit
def column_moments(x):
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
def plane_moments(x):
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
def plane_scale(x, mean, inv_std, gamma, beta, xhat, out):
    a_len, c_len, b_len = x.shape
    for a in range(a_len):
        for c in range(c_len):
            m, s, g, bt = mean[c], inv_std[c], gamma[c], beta[c]
            for b in range(b_len):
                h = (x[a, c, b] - m) * s
                xhat[a, c, b] = h
                out[a, c, b] = h * g + bt


@_jit
def column_scale(x, mean, inv_std, gamma, beta, xhat, out):
    rows, cols = x.shape
    for a in range(rows):
        for c in range(cols):
            h = (x[a, c] - mean[c]) * inv_std[c]
            xhat[a, c] = h
            out[a, c] = h * gamma[c] + beta[c]


@_jit
def column_sums(dout, xhat):
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
def plane_sums(dout, xhat):
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
def plane_dx(dout, xhat, scale, shift, slope, dx):
    # dx = scale * dout - shift - slope * xhat, per feature c.
    a_len, c_len, b_len = dout.shape
    for a in range(a_len):
        for c in range(c_len):
            k, h, p = scale[c], shift[c], slope[c]
            for b in range(b_len):
                dx[a, c, b] = k * dout[a, c, b] - h - p * xhat[a, c, b]


@_jit
def column_dx(dout, xhat, scale, shift, slope, dx):
    rows, cols = dout.shape
    for a in range(rows):
        for c in range(cols):
            dx[a, c] = scale[c] * dout[a, c] - shift[c] - slope[c] * xhat[a, c]


@_jit
def row_forward(x, gamma, beta, eps, xhat, out, mean, var, inv_std):
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
def row_backward(dout, xhat, gamma, inv_std, dx):
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
