"""Pooling over spatial windows: max (naive and fast), average, and global average.

Max pooling keeps the largest element of each window, out[n, c, i, j] = max over the
window of x[n, c]; its local gradient is 1 at the element that won and 0 elsewhere, so
backward ROUTES each dout[n, c, i, j] to that element (the "max gate" of the lecture
notes). Where windows overlap (stride < pool size) an element can win several windows
and its gradient is the SUM of what they route to it.

Ties: when several elements of a window share the maximum, the gradient goes to ONE of
them, the first in row-major window order (what ``np.argmax`` returns over the flattened
window), in every implementation here. PyTorch's CPU max_pool2d makes the same choice.

Average pooling: out = mean of the window, so each element of a window receives
dout / (pool_height * pool_width) from it (summed over the windows that contain it).
Global average pooling averages over all of H and W: dx = dout / (H * W) everywhere.

pool_param is CS231n's: {'pool_height', 'pool_width', 'stride'}, no padding; the windows
must fit exactly, (H - pool_height) divisible by the stride (likewise W), else ValueError.
Any other key in pool_param (a 'pad', a misspelling) is a ValueError too.
"""

import math

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, differentiable
from ._windows import param_int, sliding_windows
from .registry import Example, register

__all__ = ["max_pool_forward_naive", "max_pool_backward_naive",
           "max_pool_forward", "max_pool_backward",
           "max_pool_forward_fast", "max_pool_backward_fast",
           "max_pool_forward_reshape", "max_pool_backward_reshape",
           "max_pool_forward_im2col", "max_pool_backward_im2col",
           "avg_pool_forward", "avg_pool_backward",
           "global_avg_pool_forward", "global_avg_pool_backward"]


def pool_arguments(x, pool_param):
    """Validate a pooling layer's arguments; return (x, windows)."""
    check = Args()
    x = check.floats("x", x, "N C H W")
    return x, pool_windows(check, pool_param, x.shape[2:])


def pool_windows(check, pool_param, size, size_names=("H", "W"),
                 arguments="x and pool_param"):
    """The `Windows` of pool_param {'pool_height', 'pool_width', 'stride'} (no other key)
    on an input of spatial `size`, validated with `check`; `size_names` label the sizes
    in the messages, and `arguments` the arguments that give the input and pool_param."""
    pool_param = check.mapping("pool_param", pool_param,
                               ("pool_height", "pool_width", "stride"))
    height = param_int(check, "pool_param", pool_param, "pool_height", low=1)
    width = param_int(check, "pool_param", pool_param, "pool_width", low=1)
    stride = param_int(check, "pool_param", pool_param, "stride", low=1)
    return sliding_windows(check, size, (height, width), stride, size_names=size_names,
                           kernel_names=("pool_height", "pool_width"), arguments=arguments)


# The fast max pool makes several passes over its input (one per window element, each
# reading x and updating out and winner); done a chunk of about this many bytes of
# (n, c) planes at a time, they hit the cache instead of memory
# (benchmarks/bench_conv_choices.py, section pool).
POOL_CHUNK_BYTES = 2 << 20


# -- max pooling, naive ---------------------------------------------------------------------

@differentiable("x")
def max_pool_forward_naive(x, pool_param):
    """Max pooling by its definition, one window at a time (slow; a reference).

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
    pool_param : dict
        ``'pool_height'``, ``'pool_width'``, ``'stride'``: ints >= 1. The windows must fit
        exactly: H - pool_height divisible by stride, likewise W.

    Returns
    -------
    out : ndarray of shape (N, C, Ho, Wo), x's dtype, with
        Ho = (H - pool_height) / stride + 1 and Wo likewise
    cache : (x, windows) for `max_pool_backward_naive`

    Examples
    --------
    >>> x = np.array([[[[1.0, 2.0], [4.0, 3.0]]]])
    >>> max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})[0]
    array([[[[4.]]]])
    """
    x, windows = pool_arguments(x, pool_param)
    out = np.empty((*x.shape[:2], *windows.out), x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(windows.out[0]):
                for j in range(windows.out[1]):
                    out[n, c, i, j] = x[n, c][windows.at(i, j)].max()
    return out, (x, windows)


@backward_of(max_pool_forward_naive)
def max_pool_backward_naive(dout, cache):
    """Backward pass of `max_pool_forward_naive`: each dout goes to its window's first max.

    Parameters
    ----------
    dout : ndarray of shape (N, C, Ho, Wo), upstream gradient
    cache : from `max_pool_forward_naive`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    """
    x, windows = cache
    dx = np.zeros_like(x)
    pool_width = windows.kernel[1]
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(windows.out[0]):
                for j in range(windows.out[1]):
                    rows, cols = windows.at(i, j)
                    first_max = np.argmax(x[n, c, rows, cols])
                    u, v = divmod(int(first_max), pool_width)
                    dx[n, c, rows.start + u, cols.start + v] += dout[n, c, i, j]
    return dx


# -- max pooling, fast ----------------------------------------------------------------------

@differentiable("x")
def max_pool_forward(x, pool_param):
    """Max pooling, vectorized over all windows at once (fast).

    A loop over the pool_height*pool_width window elements, each a strided view of x over
    every window, keeps a running maximum and the index of the element that holds it,
    a chunk of (n, c) planes at a time (`POOL_CHUNK_BYTES`).
    Same arguments, returns and errors as `max_pool_forward_naive`; the cache is
    (x.shape, x.dtype, windows, winner) for `max_pool_backward`, with
    ``winner[n, c, i, j]`` the row-major index in its window of the first maximum.
    CS231n's name `max_pool_forward_fast` is an alias.
    """
    x, windows = pool_arguments(x, pool_param)
    n, c = x.shape[:2]
    planes = x.reshape(n * c, *x.shape[2:])
    out = np.empty((n * c, *windows.out), x.dtype)
    (_, first), *rest = windows.offsets()
    # The smallest integer type that holds every index of a window: less memory traffic.
    winner = np.zeros(out.shape, np.min_scalar_type(len(rest)))
    for chunk in plane_chunks(planes):
        x_chunk, out_chunk, winner_chunk = planes[chunk], out[chunk], winner[chunk]
        out_chunk[...] = x_chunk[(..., *first)]
        for k, (_, slices) in enumerate(rest, start=1):
            candidate = x_chunk[(..., *slices)]
            # Strictly greater: a later element that only ties the maximum does not win.
            wins = candidate > out_chunk
            np.maximum(out_chunk, candidate, out=out_chunk)
            # k exceeds every earlier index, so the maximum sets winner to k exactly
            # where candidate wins (arithmetic: several times faster than a masked copy).
            np.maximum(winner_chunk, np.multiply(wins, k, dtype=winner.dtype),
                       out=winner_chunk)
    shape = (n, c, *windows.out)
    return out.reshape(shape), (x.shape, x.dtype, windows, winner.reshape(shape))


@backward_of(max_pool_forward)
def max_pool_backward(dout, cache):
    """Backward pass of `max_pool_forward`: route each dout to its window's first max.

    Parameters
    ----------
    dout : ndarray of shape (N, C, Ho, Wo), upstream gradient
    cache : from `max_pool_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    """
    shape, dtype, windows, winner = cache
    n, c = shape[:2]
    dout = dout.reshape(n * c, *windows.out)
    winner = winner.reshape(dout.shape)
    # Windows that tile x write every element of dx exactly once: no zeros, no sums.
    tiles = windows.tiles(shape)
    dx = (np.empty if tiles else np.zeros)((n * c, *shape[2:]), dtype)
    for chunk in plane_chunks(dx):
        dx_chunk, dout_chunk, winner_chunk = dx[chunk], dout[chunk], winner[chunk]
        for k, (_, slices) in enumerate(windows.offsets()):
            routed = dx_chunk[(..., *slices)]
            if tiles:
                np.multiply(dout_chunk, winner_chunk == k, out=routed)
            else:
                routed += dout_chunk * (winner_chunk == k)
    return dx.reshape(shape)


def plane_chunks(planes):
    """Slices of the first axis of `planes` (n*c, H, W), about POOL_CHUNK_BYTES each."""
    plane_bytes = max(1, math.prod(planes.shape[1:]) * planes.itemsize)
    step = max(1, POOL_CHUNK_BYTES // plane_bytes)
    return [slice(start, start + step) for start in range(0, planes.shape[0], step)]


max_pool_forward_fast = max_pool_forward
max_pool_backward_fast = max_pool_backward


# -- CS231n's other fast max pools: by reshaping, and by im2col ------------------------------

@differentiable("x")
def max_pool_forward_reshape(x, pool_param):
    """Max pooling of windows that tile x, by one reshape: CS231n's fast special case.

    With square windows as far apart as they are wide (pool_height == pool_width ==
    stride) that tile x exactly, the windows are the blocks of
    ``x.reshape(N, C, Ho, pool_height, Wo, pool_width)``, and the max over axes 3 and 5
    pools them all at once.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
    pool_param : dict
        ``'pool_height'``, ``'pool_width'``, ``'stride'``: ints >= 1, all three equal, and
        H and W multiples of them (CS231n asserts the same); anything else is a
        ValueError (`max_pool_forward` pools any geometry).

    Returns
    -------
    out : ndarray of shape (N, C, H / pool_height, W / pool_width), x's dtype
    cache : for `max_pool_backward_reshape`

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> max_pool_forward_reshape(x, {"pool_height": 2, "pool_width": 2, "stride": 2})[0]
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    check = Args()
    x = check.floats("x", x, "N C H W")
    windows = pool_windows(check, pool_param, x.shape[2:])
    size = windows.kernel[0]
    if windows.kernel != (size, size) or windows.stride != size:
        raise check.error(f"needs square windows that tile x, pool_height == pool_width "
                          f"== stride; got pool_height = {windows.kernel[0]}, pool_width "
                          f"= {windows.kernel[1]}, stride = {windows.stride} (use "
                          f"max_pool_forward for other windows)")
    n, c = x.shape[:2]
    blocks = x.reshape(n, c, windows.out[0], size, windows.out[1], size)
    # One row per window, its elements in row-major window order.
    rows = blocks.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, *windows.out, size * size)
    winner = rows.argmax(axis=-1)[..., None]
    out = np.take_along_axis(rows, winner, axis=-1)[..., 0]
    return out, (x.shape, x.dtype, size, winner)


@backward_of(max_pool_forward_reshape)
def max_pool_backward_reshape(dout, cache):
    """Backward pass of `max_pool_forward_reshape`: each dout goes to its window's max.

    Ties go to the first maximum in row-major window order, as in every max pool here;
    CS231n's version gives the gradient to every tied element instead (divided among
    them in some releases), which is not a gradient of the forward.

    Parameters
    ----------
    dout : ndarray of shape (N, C, H / pool_height, W / pool_width), upstream gradient
    cache : from `max_pool_forward_reshape`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    """
    shape, dtype, size, winner = cache
    n, c, ho, wo = dout.shape
    rows = np.zeros((n, c, ho, wo, size * size), dtype)
    np.put_along_axis(rows, winner, dout[..., None], axis=-1)
    blocks = rows.reshape(n, c, ho, wo, size, size).transpose(0, 1, 2, 4, 3, 5)
    return blocks.reshape(shape)


@differentiable("x")
def max_pool_forward_im2col(x, pool_param):
    """CS231n's ``max_pool_forward_im2col``: the max pooling of `max_pool_forward`, under
    this name.

    Same arguments, returns, errors and ties as `max_pool_forward_naive` (CS231n's im2col
    version also takes the first maximum of each window); the cache is for
    `max_pool_backward_im2col`.
    """
    return max_pool_forward.__wrapped__(x, pool_param)


@backward_of(max_pool_forward_im2col)
def max_pool_backward_im2col(dout, cache):
    """CS231n's ``max_pool_backward_im2col``: `max_pool_backward` under this name.

    Parameters
    ----------
    dout : ndarray of shape (N, C, Ho, Wo), upstream gradient
    cache : from `max_pool_forward_im2col`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    """
    return max_pool_backward.__wrapped__(dout, cache)


# -- average pooling ------------------------------------------------------------------------

@differentiable("x")
def avg_pool_forward(x, pool_param):
    """Average pooling: the mean of each window.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64
    pool_param : dict
        ``'pool_height'``, ``'pool_width'``, ``'stride'``, as for `max_pool_forward`.

    Returns
    -------
    out : ndarray of shape (N, C, Ho, Wo), x's dtype
    cache : (x.shape, x.dtype, windows) for `avg_pool_backward`

    Examples
    --------
    >>> x = np.array([[[[1.0, 2.0], [4.0, 3.0]]]])
    >>> avg_pool_forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})[0]
    array([[[[2.5]]]])
    """
    x, windows = pool_arguments(x, pool_param)
    offsets = windows.offsets()
    total = np.zeros((*x.shape[:2], *windows.out), x.dtype)
    for _, slices in offsets:
        total += x[(..., *slices)]
    return total / len(offsets), (x.shape, x.dtype, windows)


@backward_of(avg_pool_forward)
def avg_pool_backward(dout, cache):
    """Backward pass of `avg_pool_forward`: each window element gets dout / window size.

    Parameters
    ----------
    dout : ndarray of shape (N, C, Ho, Wo), upstream gradient
    cache : from `avg_pool_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    """
    shape, dtype, windows = cache
    offsets = windows.offsets()
    share = dout / len(offsets)
    dx = np.zeros(shape, dtype)
    for _, slices in offsets:
        dx[(..., *slices)] += share
    return dx


@differentiable("x")
def global_avg_pool_forward(x):
    """Global average pooling: the mean of each channel over all of H and W.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), float32 or float64

    Returns
    -------
    out : ndarray of shape (N, C), x's dtype (ready for an affine layer)
    cache : (x.shape, x.dtype) for `global_avg_pool_backward`
    """
    check = Args()
    x = check.floats("x", x, "N C H W")
    if x.shape[2] * x.shape[3] == 0:
        raise check.error(f"x must have H*W >= 1 positions to average (a mean of nothing "
                          f"is undefined); got x.shape = {x.shape}")
    return x.mean(axis=(2, 3)), (x.shape, x.dtype)


@backward_of(global_avg_pool_forward)
def global_avg_pool_backward(dout, cache):
    """Backward pass of `global_avg_pool_forward`: dx = dout / (H * W) at every position.

    Parameters
    ----------
    dout : ndarray of shape (N, C), upstream gradient
    cache : from `global_avg_pool_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    """
    shape, dtype = cache
    share = dout / (shape[2] * shape[3])
    return np.broadcast_to(share[:, :, None, None], shape).copy()


# -- registration ---------------------------------------------------------------------------

def distinct_values(rng, shape, dtype):
    """An array of `shape` whose values are distinct and a fixed step apart: no ties, so
    max pooling is differentiable at every input."""
    return (0.1 * rng.permutation(math.prod(shape)) - 1.0).reshape(shape).astype(dtype)


def pool_example(rng, dtype):
    """Distinct values (`distinct_values`), and pool_param with overlapping, tiling or
    gapped windows."""
    n, c, ph, pw, stride, ho, wo = dims(rng, (1, 2), (1, 2), (1, 3), (1, 3), (1, 3),
                                        (1, 3), (1, 3))
    h, w = (ho - 1) * stride + ph, (wo - 1) * stride + pw
    x = distinct_values(rng, (n, c, h, w), dtype)
    return Example((x, {"pool_height": ph, "pool_width": pw, "stride": stride}))


register(max_pool_forward, max_pool_backward)(pool_example)
register(max_pool_forward_naive, max_pool_backward_naive, name="max_pool_naive")(pool_example)
register(max_pool_forward_im2col, max_pool_backward_im2col, name="max_pool_im2col")(pool_example)
register(avg_pool_forward, avg_pool_backward)(pool_example)


@register(global_avg_pool_forward, global_avg_pool_backward)
def global_avg_pool_example(rng, dtype):
    n, c, h, w = dims(rng, (1, 3), (1, 3), (1, 4), (1, 4))
    return (normal(rng, (n, c, h, w), dtype),)


@register(max_pool_forward_reshape, max_pool_backward_reshape, name="max_pool_reshape")
def max_pool_reshape_example(rng, dtype):
    """Square windows that tile x (what the reshape pool takes), distinct values."""
    n, c, size, ho, wo = dims(rng, (1, 2), (1, 2), (1, 3), (1, 3), (1, 3))
    x = distinct_values(rng, (n, c, ho * size, wo * size), dtype)
    return Example((x, {"pool_height": size, "pool_width": size, "stride": size}))
