"""Sliding windows over the last two axes: the geometry shared by convolution and pooling.

A window layer (conv, pool) with kernel (KH, KW), stride s, zero padding p and dilation d
reads, for output position (i, j), the input rows i*s, i*s + d, ..., i*s + d*(KH-1) and
the columns likewise, in the padded input. Its output has

    Ho = (H + 2p - (d*(KH-1) + 1)) / s + 1

rows (and Wo columns likewise). CS231n requires that division to be exact and so does
this library: a window that does not fit is an error, never silently dropped.

Two views of the same geometry serve the two kinds of implementation:

- `Windows.at(i, j)`: the window of one output position (the naive loops);
- `Windows.offset(u, v)`: for kernel element (u, v), the input position it meets at
  EVERY output position, as one strided view of shape (..., Ho, Wo) (the vectorized
  versions: a loop over the KH*KW kernel elements instead of the Ho*Wo outputs).
"""

from typing import NamedTuple

import numpy as np


class Windows(NamedTuple):
    """Where the windows of a conv or pool layer sit in its zero-padded input.

    Attributes
    ----------
    kernel : (KH, KW)
    stride, pad, dilation : int
    out : (Ho, Wo), the output's spatial shape
    """

    kernel: tuple
    stride: int
    pad: int
    dilation: int
    out: tuple

    def at(self, i, j):
        """Slices of the padded input's last two axes: the window of output (i, j)."""
        s, d = self.stride, self.dilation
        (kh, kw) = self.kernel
        return (slice(i * s, i * s + d * (kh - 1) + 1, d),
                slice(j * s, j * s + d * (kw - 1) + 1, d))

    def offset(self, u, v):
        """Slices of the padded input's last two axes: what kernel element (u, v) meets
        at every output position, a (Ho, Wo) grid."""
        s, d = self.stride, self.dilation
        (ho, wo) = self.out
        return (slice(u * d, u * d + s * (ho - 1) + 1, s),
                slice(v * d, v * d + s * (wo - 1) + 1, s))

    def offsets(self):
        """Every kernel element (u, v) in row-major order, with its `offset` slices."""
        kh, kw = self.kernel
        return [((u, v), self.offset(u, v)) for u in range(kh) for v in range(kw)]

    def padded_shape(self, shape):
        """`shape` (..., H, W) with the two last axes padded."""
        *lead, h, w = shape
        return (*lead, h + 2 * self.pad, w + 2 * self.pad)

    def interior(self):
        """Slices of the padded input's last two axes that hold the unpadded input."""
        p = self.pad
        return (slice(p, -p or None), slice(p, -p or None))

    def tiles(self, shape):
        """True when the windows cover the input (..., H, W) exactly once: each input
        element lies in exactly one window (no overlap, no gap, no padding)."""
        kh, kw = self.kernel
        ho, wo = self.out
        return (self.pad == 0 and self.dilation == 1 and self.stride == kh == kw
                and shape[-2:] == (ho * kh, wo * kw))


def param_int(check, param_name, param, key, *, low, default=None):
    """``param[key]`` as an int >= `low`; `default` when absent (None: the key is required)."""
    if key not in param:
        if default is not None:
            return default
        raise check.error(f"{param_name} must have the key {key!r}; got keys "
                          f"{sorted(param, key=str)}")
    return check.integer(f"{param_name}[{key!r}]", param[key], low=low)


# The largest size of an array axis: a window geometry beyond it cannot be computed.
LARGEST_AXIS = int(np.iinfo(np.intp).max)


def sliding_windows(check, size, kernel, stride, pad=0, dilation=1, *,
                    size_names=("H", "W"), kernel_names=("HH", "WW"), arguments):
    """Validate a window geometry on an input of spatial `size`; return its `Windows`.

    Raises `check.error` (ValueError) when the (dilated) kernel is larger than the padded
    input, when the output size (H + 2p - d*(KH-1) - 1) / s + 1 is not an integer, or
    when the padded input would be larger than an array axis can be. The names label the
    sizes in the messages: ("H", "W") and ("HH", "WW") for a conv; `arguments` names the
    arguments that give the geometry ("x, w and conv_param").
    """
    misfit = f"{arguments} do not fit together"
    out = []
    for axis, n, k, n_name, k_name in zip(("height", "width"), size, kernel, size_names,
                                          kernel_names):
        span = dilation * (k - 1) + 1
        padded = n + 2 * pad
        if dilation == 1:
            window, window_value = k_name, f"{k}"
        else:
            window, window_value = f"dilation*({k_name}-1)+1", f"{span}"
        pad_text, pad_value = (" + 2*pad", f" + 2*{pad}") if pad else ("", "")
        if max(padded, span) > LARGEST_AXIS:
            raise check.error(f"the padded input and the window must be at most "
                              f"{LARGEST_AXIS} long; got {n_name}{pad_text} = "
                              f"{n}{pad_value} and {window} = {window_value}; {misfit}")
        if span > padded:
            raise check.error(f"the window is larger than the input: {window} = "
                              f"{window_value} > {n_name}{pad_text} = {n}{pad_value}; "
                              f"{misfit}")
        if (padded - span) % stride:
            raise check.error(
                f"the output {axis} ({n_name}{pad_text} - {window}) / stride + 1 = "
                f"({n}{pad_value} - {window_value}) / {stride} + 1 = "
                f"{(padded - span) / stride + 1:g} is not an integer; {misfit}: choose "
                f"the stride, padding and window so that it is")
        out.append((padded - span) // stride + 1)
    return Windows(tuple(kernel), stride, pad, dilation, tuple(out))


def pad_spatial(x, pad):
    """x (..., H, W) with `pad` zeros on both sides of its last two axes (x itself if 0)."""
    if pad == 0:
        return x
    width = [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)]
    return np.pad(x, width)
