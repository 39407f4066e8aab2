"""Sinusoidal positional encoding (Vaswani et al. 2017, "Attention Is All You Need").

The encoding of position t has, for i = 0, 1, ..., pe[t, 2i] = sin(t / 10000^(2i/D)) and
pe[t, 2i + 1] = cos(t / 10000^(2i/D)). It has no parameters and does not depend on x's
values, so as a layer it ADDS the encoding to its input, out = x + pe[:T], the way a
transformer uses it; its backward is the identity, dx = dout. (A layer that only returned
pe would have no floating-point argument and nothing to check.) CS231n's
``PositionalEncoding`` module adds it the same way (and then applies dropout, which is a
separate layer here).
"""

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, differentiable
from .registry import register

__all__ = ["sinusoidal_encoding", "positional_encoding_forward", "positional_encoding_backward"]


def sinusoidal_encoding(steps, dim, dtype=np.float64):
    """The encoding table of positions 0, ..., steps - 1.

    Parameters
    ----------
    steps : int, T >= 0
    dim : int, D >= 1; for odd D the last column is a sine
    dtype : float32 or float64 (any other dtype is a TypeError: an integer table would
        truncate every entry to -1, 0 or 1)

    Returns
    -------
    pe : ndarray of shape (T, D), of `dtype`

    Examples
    --------
    >>> sinusoidal_encoding(2, 4).round(4)
    array([[0.    , 1.    , 0.    , 1.    ],
           [0.8415, 0.5403, 0.01  , 1.    ]])
    """
    check = Args("sinusoidal_encoding")
    steps = check.integer("steps", steps, low=0)
    dim = check.integer("dim", dim, low=1)
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.float32, np.float64):
        raise check.error(f"dtype must be float32 or float64; got "
                          f"{getattr(dtype, '__name__', dtype)}", TypeError)
    # Computed in float64 whatever the dtype: angles reach T radians, and float32 would
    # lose their fractional part for long sequences before the sine is taken.
    frequencies = 10000.0 ** (-np.arange(0, dim, 2) / dim)
    angles = np.arange(steps)[:, None] * frequencies
    pe = np.empty((steps, dim))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, :dim // 2])
    return pe.astype(dtype)


@differentiable("x")
def positional_encoding_forward(x):
    """Add the sinusoidal encoding of each position to a batch of sequences.

    Parameters
    ----------
    x : ndarray of shape (N, T, D), float32 or float64

    Returns
    -------
    out : ndarray of shape (N, T, D), x[n, t] + sinusoidal_encoding(T, D)[t]
    cache : x's shape and dtype, for `positional_encoding_backward`
    """
    check = Args()
    x = check.floats("x", x, "N T D")
    if x.shape[2] == 0:
        raise check.error(f"x must have at least one feature (D >= 1); got x.shape = "
                          f"{x.shape}")
    return x + sinusoidal_encoding(x.shape[1], x.shape[2], x.dtype), (x.shape, x.dtype)


@backward_of(positional_encoding_forward)
def positional_encoding_backward(dout, cache):
    """Backward pass of `positional_encoding_forward`: the identity.

    Parameters
    ----------
    dout : ndarray of shape (N, T, D), upstream gradient
    cache : from `positional_encoding_forward`

    Returns
    -------
    dx : ndarray of shape (N, T, D), equal to dout
    """
    return dout.copy()


@register(positional_encoding_forward, positional_encoding_backward)
def positional_encoding_example(rng, dtype):
    return (normal(rng, dims(rng, (1, 3), (1, 4), (1, 5)), dtype),)
