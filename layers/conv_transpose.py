"""Transposed convolution (a.k.a. fractionally strided convolution): the adjoint of conv.

For the convolution y = conv(z, w) of `layers.conv` (no bias), z (N, C, H, W) to
y (N, F, Ho, Wo), conv_transpose maps the other way, (N, F, Ho, Wo) to (N, C, H, W), by
the transposed linear map: <conv(z, w), x> = <z, conv_transpose(x, w)> for all z and x.
It is exactly conv's input gradient, so it scatters each input element onto a window:

    out[n, c, i*s + u*d - p, j*s + v*d - p] += w[f, c, u, v] * x[n, f, i, j]   (+ b[c])

with positions that fall into the padding dropped. It upsamples by the stride:
H = (Ho - 1)*s - 2p + d*(HH - 1) + 1. The weight has conv's layout (F, C, HH, WW), F the
transposed layer's INPUT channels, as PyTorch's ``conv_transpose2d`` weight
(in_channels, out_channels, kH, kW) does.

Backward, by the same adjoint pairing: dx = conv(dout, w), i.e. conv's forward on the
upstream gradient; dw[f, c, u, v] = sum dout[window] * x, conv's weight gradient with the
roles of input and upstream gradient swapped; db = sum of dout over (N, H, W).

Both directions reuse conv's `Im2col` lowering, on the (N, C, H, W) side.
"""

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, differentiable
from ._windows import sliding_windows
from .conv import Im2col, conv_settings
from .registry import Example, register

__all__ = ["conv_transpose_forward", "conv_transpose_backward"]


@differentiable("x", "w", "b")
def conv_transpose_forward(x, w, b, conv_param):
    """Transposed convolution: the adjoint of `conv_forward` with the same w and conv_param.

    Parameters
    ----------
    x : ndarray of shape (N, F, Hi, Wi), float32 or float64
    w : ndarray of shape (F, C, HH, WW), conv's layout (and PyTorch's for this layer)
    b : ndarray of shape (C,), one bias per OUTPUT channel
    conv_param : dict
        ``'stride'``, ``'pad'`` and optionally ``'dilation'``, meaning what they mean for
        the convolution this layer is the adjoint of.

    Returns
    -------
    out : ndarray of shape (N, C, H, W), x's dtype, with
        H = (Hi - 1)*stride - 2*pad + dilation*(HH - 1) + 1 and W likewise: the input
        size of the convolution whose output size is (Hi, Wi). ValueError when H or W
        would be < 1 (too much padding).
    cache : (x, w, windows) for `conv_transpose_backward`

    Examples
    --------
    Stride 2 upsamples; each input element stamps a copy of the kernel:

    >>> x = np.array([[[[1.0, 2.0]]]]); w = np.ones((1, 1, 1, 2))
    >>> conv_transpose_forward(x, w, np.zeros(1), {"stride": 2, "pad": 0})[0]
    array([[[[1., 1., 2., 2.]]]])
    """
    check = Args()
    x = check.floats("x", x, "N F Hi Wi")
    w = check.floats("w", w, "F C HH WW")
    b = check.floats("b", b, "C")
    windows = transposed_windows(check, conv_param, x.shape[2:], w.shape[2:])
    size = output_size(windows, x.shape[2:])
    out = np.empty((x.shape[0], w.shape[1], *size), x.dtype)
    lowering = Im2col(out.shape, windows, x.dtype)
    w2 = w.reshape(w.shape[0], -1)
    for batch in lowering.chunks():
        x2 = lowering.rows(x[batch])
        lowering.add_columns(lowering.product(w2.T, x2, "dcols"), out[batch])
    out += b[:, None, None]
    return out, (x, w, windows)


@backward_of(conv_transpose_forward)
def conv_transpose_backward(dout, cache):
    """Backward pass of `conv_transpose_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, C, H, W), upstream gradient
    cache : from `conv_transpose_forward`

    Returns
    -------
    dx : ndarray of shape (N, F, Hi, Wi)
    dw : ndarray of shape (F, C, HH, WW)
    db : ndarray of shape (C,)
    """
    x, w, windows = cache
    f, c = w.shape[:2]
    out_shape = (x.shape[0], c, *output_size(windows, x.shape[2:]))
    lowering = Im2col(out_shape, windows, x.dtype)
    w2 = w.reshape(f, -1)
    dx = np.empty_like(x)
    dw = np.zeros((f, lowering.k), x.dtype)
    for batch in lowering.chunks():
        cols = lowering.columns(dout[batch])
        x2 = lowering.rows(x[batch])
        dw += lowering.product(x2, cols.T, "dw")
        lowering.unrows(lowering.product(w2, cols, "out"), dx[batch])
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw.reshape(w.shape), db


def output_size(windows, in_size):
    """(H, W): the size of a conv input whose output, with `windows`, is `in_size`."""
    s, p, d = windows.stride, windows.pad, windows.dilation
    return tuple((n - 1) * s - 2 * p + d * (k - 1) + 1
                 for n, k in zip(in_size, windows.kernel))


def transposed_windows(check, conv_param, in_size, kernel):
    """The validated windows of the conv this layer is the adjoint of."""
    stride, pad, dilation = conv_settings(check, conv_param)
    size = []
    for axis, n, k in zip(("height", "width"), in_size, kernel):
        unpadded = (n - 1) * stride + dilation * (k - 1) + 1
        if unpadded - 2 * pad < 1:
            raise check.error(f"the output {axis} (Hi - 1)*stride + dilation*(HH-1) + 1 - "
                              f"2*pad = {unpadded} - 2*{pad} = {unpadded - 2 * pad} is < 1: "
                              f"pad is too large for x and w (conv_param['pad'] = {pad})")
        size.append(unpadded - 2 * pad)
    return sliding_windows(check, tuple(size), kernel, stride, pad, dilation,
                           arguments="x, w and conv_param")


@register(conv_transpose_forward, conv_transpose_backward)
def conv_transpose_example(rng, dtype):
    n, f, c, kh, kw, hi, wi = dims(rng, (1, 2), (1, 3), (1, 3), (1, 3), (1, 3), (1, 3),
                                   (1, 3))
    stride, dilation = dims(rng, (1, 3), (1, 2))
    # The largest pad that leaves an output of at least 1 x 1.
    largest = min((n - 1) * stride + dilation * (k - 1) for n, k in ((hi, kh), (wi, kw))) // 2
    pad = int(rng.integers(0, largest + 1))
    x = normal(rng, (n, f, hi, wi), dtype)
    w = normal(rng, (f, c, kh, kw), dtype)
    b = normal(rng, (c,), dtype)
    return Example((x, w, b, {"stride": stride, "pad": pad, "dilation": dilation}))
