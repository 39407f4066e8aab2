"""2-d convolution (cross-correlation, as in CS231n and PyTorch): naive loops and im2col.

With x zero-padded by p, stride s and dilation d (see `layers._windows`)::

    out[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * xp[n, c, i*s + u*d, j*s + v*d]

Every output is a dot product of w[f] with one window of xp, so the backward is the same
sum read three ways:

    db[f]          = sum_{n, i, j} dout[n, f, i, j]
    dw[f, c, u, v] = sum_{n, i, j} dout[n, f, i, j] * xp[n, c, i*s + u*d, j*s + v*d]
    dxp[n, c, i*s + u*d, j*s + v*d] += sum_f w[f, c, u, v] * dout[n, f, i, j]

and dx is dxp without its padding. Overlapping windows make the last line accumulate.

The fast version lowers the convolution to matrix products (im2col): the matrix
`cols` holds every window as a column, (C*HH*WW, Ho*Wo) per example, and
out = w2 @ cols with w2 = w.reshape(F, C*HH*WW). Then dw = dout2 @ cols.T and
dcols = w2.T @ dout2, and dx scatters dcols back onto the windows (col2im, the adjoint
of im2col). The columns end in a row of ones, and w2 in a column holding b, so that the
forward's product adds the bias and dw's product sums db. Both im2col and col2im loop
over the HH*WW kernel elements, each one copy or add over the whole (C, Ho, Wo) grid
(see `Im2col`); the products go to BLAS. The batch is processed in chunks of about
`CHUNK_BYTES` of columns, so that the columns stay in cache between im2col and the
product, and memory stays bounded: the backward rebuilds the columns rather than keeping
them from the forward.

Scratch memory: the fast pair keeps its work buffers between calls, per thread (a few MB
reused, instead of allocated and page-faulted afresh by every call; `layers.scratch`).
`clear_scratch()` releases the calling thread's buffers.
"""

import math

import numpy as np

from ._examples import dims, normal
from .scratch import scratch
from .contract import Args, backward_of, differentiable, gradient_skipped
from ._windows import pad_spatial, param_int, sliding_windows
from .registry import Example, register

__all__ = ["conv_forward_naive", "conv_backward_naive", "conv_forward", "conv_backward",
           "conv_forward_fast", "conv_backward_fast", "conv_forward_strides",
           "conv_backward_strides", "conv_forward_im2col", "conv_backward_im2col"]

# About this many bytes of im2col columns per chunk of the batch: small enough to stay
# in the cache between the copies that build them and the product that reads them,
# large enough (thousands of columns) for BLAS to run near its peak, and few enough
# chunks that BLAS's threads meet rarely. On one thread chunks from 0.5 to 8 MB time
# alike and 16 MB or a whole-batch im2col is slower (1.3 to 2.5 times); on two threads
# of a loaded machine, where every product waits for both threads to get a core, 8 MB
# chunks were 3 times faster than 2 MB (benchmarks/bench_conv_choices.py, section
# chunk; figures in benchmarks/README.md).
CHUNK_BYTES = 8 << 20

# The forward's grid: False lowers it onto the output's (Ho, Wo) grid, True onto the
# padded-row grid that the backward uses (see `Im2col`). The output's grid does fewer
# products and copies them out in whole planes, for slower row-by-row im2col copies;
# it was as fast or faster on every conv timed (benchmarks/bench_conv_choices.py,
# section grid; benchmarks/README.md).
FORWARD_WIDE = False


def conv_arguments(check, x, w, b, conv_param):
    """Validate conv's arguments with `check` (an `Args`); return (x, w, b, windows).

    conv_param holds 'stride' (>= 1) and 'pad' (>= 0), and optionally 'dilation' (>= 1,
    default 1). The channels of x and w must agree and the windows must fit exactly.
    Binds the dims N, C, H, W, F, HH, WW in `check`, for composites that go on to
    validate their own arguments against them.
    """
    x = check.floats("x", x, "N C H W")
    w = check.floats("w", w, "F C HH WW")
    b = check.floats("b", b, "F")
    windows = conv_windows(check, conv_param, x.shape[2:], w.shape[2:])
    return x, w, b, windows


def conv_windows(check, conv_param, size, kernel):
    """The `Windows` of conv_param on an input of spatial `size` with a kernel (HH, WW)."""
    return sliding_windows(check, size, kernel, *conv_settings(check, conv_param),
                           arguments="x, w and conv_param")


def conv_settings(check, conv_param):
    """(stride, pad, dilation) from conv_param {'stride', 'pad'[, 'dilation']}, validated;
    any other key is an error."""
    conv_param = check.mapping("conv_param", conv_param, ("stride", "pad", "dilation"))
    stride = param_int(check, "conv_param", conv_param, "stride", low=1)
    pad = param_int(check, "conv_param", conv_param, "pad", low=0)
    dilation = param_int(check, "conv_param", conv_param, "dilation", low=1, default=1)
    return stride, pad, dilation


# -- naive: the definition, loop by loop ----------------------------------------------------

@differentiable("x", "w", "b")
def conv_forward_naive(x, w, b, conv_param):
    """Convolution by its definition: a loop over every output element (slow; a reference).

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
    w : ndarray of shape (F, C, HH, WW), F filters
    b : ndarray of shape (F,)
    conv_param : dict
        - ``'stride'``: int >= 1, the step between windows in both directions.
        - ``'pad'``: int >= 0, zeros added on every side of H and W.
        - ``'dilation'`` (optional): int >= 1, the step between kernel taps; default 1.

        The windows must fit exactly: (H + 2*pad - dilation*(HH-1) - 1) must be divisible
        by stride (and likewise for W), else ValueError.

    Returns
    -------
    out : ndarray of shape (N, F, Ho, Wo), x's dtype, with
        Ho = (H + 2*pad - dilation*(HH-1) - 1) / stride + 1 and Wo likewise
    cache : (x, w, windows) for `conv_backward_naive`

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3); w = np.ones((1, 1, 2, 2))
    >>> conv_forward_naive(x, w, np.zeros(1), {"stride": 1, "pad": 0})[0]
    array([[[[ 8., 12.],
             [20., 24.]]]])
    """
    x, w, b, windows = conv_arguments(Args(), x, w, b, conv_param)
    xp = pad_spatial(x, windows.pad)
    n_batch, n_filters = x.shape[0], w.shape[0]
    out = np.empty((n_batch, n_filters, *windows.out), x.dtype)
    for n in range(n_batch):
        for f in range(n_filters):
            for i in range(windows.out[0]):
                for j in range(windows.out[1]):
                    rows, cols = windows.at(i, j)
                    out[n, f, i, j] = np.sum(xp[n, :, rows, cols] * w[f]) + b[f]
    return out, (x, w, windows)


@backward_of(conv_forward_naive)
def conv_backward_naive(dout, cache):
    """Backward pass of `conv_forward_naive`, loop by loop.

    Parameters
    ----------
    dout : ndarray of shape (N, F, Ho, Wo), upstream gradient
    cache : from `conv_forward_naive`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    dw : ndarray of shape (F, C, HH, WW)
    db : ndarray of shape (F,)
    """
    x, w, windows = cache
    xp = pad_spatial(x, windows.pad)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = np.zeros(w.shape[0], x.dtype)
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            for i in range(windows.out[0]):
                for j in range(windows.out[1]):
                    rows, cols = windows.at(i, j)
                    g = dout[n, f, i, j]
                    db[f] += g
                    dw[f] += g * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += g * w[f]
    top, left = windows.interior()
    return dxp[:, :, top, left], dw, db


# -- fast: im2col, BLAS and col2im, a chunk of the batch at a time --------------------------

class Im2col:
    """im2col and col2im for one convolution geometry, on chunks of the batch.

    For a chunk of m examples x (m, C, H, W), `columns` builds the (K, m*T) matrix of
    windows, K = C*HH*WW, rows ordered (c, u, v) like ``w.reshape(F, K)``, one column per
    position of an output grid (Ho, Wg) of each example, T = Ho*Wg. `add_columns` is its
    adjoint (col2im): it sums a (K, m*T) matrix back onto the input positions the windows
    came from. `rows` and `unrows` convert between an output-shaped chunk (m, F, Ho, Wo)
    and the (F, m*T) matrix of the products. Scratch buffers are reused by every chunk
    and by later calls in the same thread (`layers.scratch`).

    The grid is the output (Wg = Wo), except at stride 1 with `wide`, where it is as wide
    as a padded input row (Wg = Wp): kernel element (u, v) then meets, for all outputs at
    once, ONE contiguous run of each flattened padded plane, starting at u*d*Wp + v*d.
    im2col is then HH*WW long copies and col2im HH*WW long adds, instead of Ho short rows:
    every copy moves C*m runs of Ho*Wp contiguous elements rather than C*m*Ho rows of Wo,
    so the per-row cost of NumPy's strided loops is paid Ho times less often, for
    (Wp - Wo) / Wo more columns in the product. The Wp - Wo extra columns per row read
    the padding or wrap into the next row: they are computed and dropped, and their
    upstream gradient is 0.

    Parameters
    ----------
    in_shape : (N, C, H, W), the convolution's input shape
    windows : `Windows` of the convolution (its kernel is (HH, WW))
    dtype : float32 or float64
    wide : bool, the padded-row grid at stride 1 (ignored at other strides)
    """

    def __init__(self, in_shape, windows, dtype, wide=True):
        self.n, self.channels = in_shape[:2]
        self.size = in_shape[2:]
        self.windows = windows
        self.dtype = np.dtype(dtype)
        kh, kw = windows.kernel
        self.padded_size = windows.padded_shape(self.size)
        ho, wo = windows.out
        self.wide = wide and windows.stride == 1
        self.grid = (ho, self.padded_size[1] if self.wide else wo)
        self.t = ho * self.grid[1]
        # At stride 1 the extra columns of the last row run (WW-1)*d past the plane.
        self.plane = math.prod(self.padded_size) + (kw - 1) * windows.dilation
        self.k = self.channels * kh * kw
        per_example = self.k * self.t * self.dtype.itemsize
        self.chunk = max(1, min(self.n, CHUNK_BYTES // max(per_example, 1)))

    def chunks(self):
        """Slices of the batch, each of at most `self.chunk` examples."""
        return [slice(start, min(start + self.chunk, self.n))
                for start in range(0, self.n, self.chunk)]

    def buffer(self, name, shape):
        """A contiguous scratch array of `shape`, named so that the chunks of this call,
        and later calls in this thread, reuse it (`layers.scratch.scratch`)."""
        return scratch(name, shape, self.dtype)

    def planes(self, name, m):
        """Zeroed flat padded planes (C, m, plane), channel-major so that each tap copies
        straight into the columns' layout, and their unpadded (C, m, H, W) view."""
        flat = self.buffer(name, (self.channels, m, self.plane))
        flat.fill(0)
        hp, wp = self.padded_size
        padded = flat[:, :, :hp * wp].reshape(self.channels, m, hp, wp)
        top, left = self.windows.interior()
        return flat, padded[:, :, top, left]

    def taps(self, flat):
        """For each kernel element (row-major), the (C, m, Ho, Wg) view of the flat
        planes that it meets at every grid position."""
        c, m = flat.shape[:2]
        hp, wp = self.padded_size
        if self.wide:
            d = self.windows.dilation
            kh, kw = self.windows.kernel
            return [flat[:, :, start:start + self.t].reshape(c, m, *self.grid)
                    for start in (u * d * wp + v * d for u in range(kh) for v in range(kw))]
        padded = flat[:, :, :hp * wp].reshape(c, m, hp, wp)
        return [padded[:, :, rows, cols] for _, (rows, cols) in self.windows.offsets()]

    def columns(self, x, ones=False):
        """im2col of x (m, C, H, W): the (K, m*T) matrix of its windows; with `ones`, the
        (K + 1, m*T) matrix whose last row is all ones, which carries the bias through the
        products (see `conv_forward`)."""
        m = x.shape[0]
        flat, interior = self.planes("padded", m)
        interior[...] = x.transpose(1, 0, 2, 3)
        taps = self.taps(flat)
        rows = self.k + 1 if ones else self.k
        matrix = self.buffer("columns", (rows, m * self.t))
        stacked = matrix[:self.k].reshape(self.channels, len(taps), m, *self.grid)
        for k, tap in enumerate(taps):
            stacked[:, k] = tap
        if ones:
            matrix[self.k] = 1
        return matrix

    def add_columns(self, matrix, out):
        """col2im: sum the (K, m*T) `matrix` onto its windows' positions; write the
        unpadded result into `out` (m, C, H, W)."""
        m = out.shape[0]
        flat, interior = self.planes("scatter", m)
        taps = self.taps(flat)
        matrix = matrix.reshape(self.channels, len(taps), m, *self.grid)
        for k, tap in enumerate(taps):
            tap += matrix[:, k]
        out[...] = interior.transpose(1, 0, 2, 3)

    def rows(self, y):
        """y (m, F, Ho, Wo) as the (F, m*T) matrix the products use (0 off the output)."""
        m, f = y.shape[:2]
        wo = self.windows.out[1]
        matrix = self.buffer("rows", (f, m, *self.grid))
        matrix[..., wo:] = 0
        matrix[..., :wo] = y.transpose(1, 0, 2, 3)
        return matrix.reshape(f, m * self.t)

    def unrows(self, matrix, out):
        """The (F, m*T) `matrix` written into `out` (m, F, Ho, Wo)."""
        m, f = out.shape[:2]
        wo = self.windows.out[1]
        out[...] = matrix.reshape(f, m, *self.grid)[..., :wo].transpose(1, 0, 2, 3)

    def product(self, a, b, name):
        """a @ b into a reused buffer."""
        return np.matmul(a, b, out=self.buffer(name, (a.shape[0], b.shape[1])))


@differentiable("x", "w", "b")
def conv_forward(x, w, b, conv_param):
    """Convolution via im2col and one matrix product per chunk of the batch (fast).

    Same arguments, returns and errors as `conv_forward_naive`; the cache is
    (x, w, windows) for `conv_backward`. CS231n's name `conv_forward_fast` is an alias.

    Memory: besides the output, the scratch of ONE chunk, reused by all of them: its
    columns (about `CHUNK_BYTES`, at least one example's), their product (F/K times
    that) and the padded chunk; it does not grow with N. The backward needs about twice
    that (columns and their gradient). A whole-batch im2col would take N*K*Ho*Wo elements.
    """
    x, w, b, windows = conv_arguments(Args(), x, w, b, conv_param)
    lowering = Im2col(x.shape, windows, x.dtype, wide=FORWARD_WIDE)
    # The bias as one more column of the weights, against the row of ones that the
    # columns end with: the product adds it, so no pass over the output adds it after.
    w2 = np.concatenate([w.reshape(w.shape[0], -1), b[:, None]], axis=1)
    out = np.empty((x.shape[0], w.shape[0], *windows.out), x.dtype)
    for batch in lowering.chunks():
        cols = lowering.columns(x[batch], ones=True)
        lowering.unrows(lowering.product(w2, cols, "out"), out[batch])
    return out, (x, w, windows)


# CS231n's fast_layers.py has two lowerings to matrix products, by strides (the one its
# conv_forward_fast is) and by im2col, each with its own backward. Both compute what
# conv_forward does, so here they are conv_forward under their own names: arguments are
# checked, and refused, under the name the user called, and each backward takes its own
# forward's cache, as every backward here.

@differentiable("x", "w", "b")
def conv_forward_strides(x, w, b, conv_param):
    """CS231n's ``conv_forward_strides``: the convolution of `conv_forward`, under this name.

    Same arguments, returns and errors as `conv_forward_naive` (CS231n's version computes
    a window that does not fit by dropping the remainder; this one refuses it, as every
    convolution here does). The cache is for `conv_backward_strides`.
    """
    return conv_forward.__wrapped__(x, w, b, conv_param)


@differentiable("x", "w", "b")
def conv_forward_im2col(x, w, b, conv_param):
    """CS231n's ``conv_forward_im2col``: the convolution of `conv_forward`, under this name.

    Same arguments, returns and errors as `conv_forward_naive`; the cache is for
    `conv_backward_im2col`.
    """
    return conv_forward.__wrapped__(x, w, b, conv_param)


@backward_of(conv_forward)
def conv_backward(dout, cache):
    """Backward pass of `conv_forward`: im2col again, two products, col2im.

    Same arguments (with the cache of `conv_forward`) and returns as `conv_backward_naive`:
    dx (N, C, H, W) (zeros where the caller skips it), dw (F, C, HH, WW), db (F,).
    """
    x, w, windows = cache
    f = w.shape[0]
    lowering = Im2col(x.shape, windows, x.dtype)
    w2 = w.reshape(f, -1)
    # A first layer's caller may not want dx (`layers.contract.skipping_gradients`):
    # then neither dx's product nor col2im runs, and dx is zeros.
    want_dx = not gradient_skipped("x")
    dx = np.empty_like(x) if want_dx else np.zeros(x.shape, x.dtype)  # as affine's
    # dw's product with the longer of K and F as its rows, (K, F) as cols @ dout2.T or
    # (F, K) as dout2 @ cols.T: the same sums, but on two threads OpenBLAS splits the
    # long inner dimension poorly when the output's rows are the shorter side: the other
    # form took 1.7 to 16 times as long on the chunks of the (64, 32, 32, 32) -> 64 conv
    # (K = 288), 0.9 to 160 on the (64, 3, 32, 32) -> 32 one (K = 27)
    # (benchmarks/bench_conv_choices.py, section dw; benchmarks/README.md).
    k_rows = lowering.k >= f
    # db comes out of dw's product: the row of ones that ends the columns sums dout over
    # every position, on BLAS's threads and with one product call fewer per chunk
    # (benchmarks/bench_conv_choices.py, section db).
    rows = lowering.k + 1
    dw_sum = np.zeros((rows, f) if k_rows else (f, rows), x.dtype)
    for batch in lowering.chunks():
        cols = lowering.columns(x[batch], ones=True)
        dout2 = lowering.rows(dout[batch])
        if k_rows:
            dw_sum += lowering.product(cols, dout2.T, "dw")
        else:
            dw_sum += lowering.product(dout2, cols.T, "dw")
        if want_dx:
            lowering.add_columns(lowering.product(w2.T, dout2, "dcols"), dx[batch])
    dw_db = dw_sum.T if k_rows else dw_sum
    return dx, dw_db[:, :-1].reshape(w.shape), dw_db[:, -1].copy()


conv_forward_fast = conv_forward
conv_backward_fast = conv_backward


@backward_of(conv_forward_strides)
def conv_backward_strides(dout, cache):
    """CS231n's ``conv_backward_strides``: `conv_backward` under this name.

    Takes the cache of `conv_forward_strides` and returns dx (N, C, H, W),
    dw (F, C, HH, WW), db (F,).
    """
    return conv_backward.__wrapped__(dout, cache)


@backward_of(conv_forward_im2col)
def conv_backward_im2col(dout, cache):
    """CS231n's ``conv_backward_im2col``: `conv_backward` under this name.

    Takes the cache of `conv_forward_im2col` and returns
    dx (N, C, H, W), dw (F, C, HH, WW), db (F,).
    """
    return conv_backward.__wrapped__(dout, cache)


# -- registration ---------------------------------------------------------------------------

def conv_example(rng, dtype):
    """Small random conv inputs: stride 1 or 2, pad 0-2, rectangular kernels, sometimes
    dilated; H and W chosen so that the windows fit exactly."""
    n, c, f, kh, kw = dims(rng, (1, 2), (1, 3), (1, 3), (1, 3), (1, 3))
    stride, pad, dilation = dims(rng, (1, 2), (0, 2), (1, 2))
    ho, wo = dims(rng, (1, 3), (1, 3))
    # H = (Ho - 1) * stride + span - 2 * pad, kept >= 1 by growing Ho when needed.
    size = []
    for k, o in ((kh, ho), (kw, wo)):
        span = dilation * (k - 1) + 1
        while (o - 1) * stride + span - 2 * pad < 1:
            o += 1
        size.append((o - 1) * stride + span - 2 * pad)
    x = normal(rng, (n, c, *size), dtype)
    w = normal(rng, (f, c, kh, kw), dtype)
    b = normal(rng, (f,), dtype)
    return Example((x, w, b, {"stride": stride, "pad": pad, "dilation": dilation}))


register(conv_forward, conv_backward)(conv_example)
register(conv_forward_strides, conv_backward_strides, name="conv_strides")(conv_example)
register(conv_forward_im2col, conv_backward_im2col, name="conv_im2col")(conv_example)
register(conv_forward_naive, conv_backward_naive, name="conv_naive")(conv_example)
