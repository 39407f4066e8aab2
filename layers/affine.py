"""Affine (fully connected) layer: out = x.reshape(N, D) @ w + b.

Backward, with x flattened to (N, D): dx = dout @ w.T (reshaped to x's shape),
dw = x.T @ dout, db = sum of dout over the batch.
"""

import math

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, differentiable, gradient_skipped
from .registry import register

__all__ = ["affine_forward", "affine_backward"]


@differentiable("x", "w", "b")
def affine_forward(x, w, b):
    """Affine layer on a batch whose examples are flattened to vectors.

    Parameters
    ----------
    x : ndarray of shape (N, d_1, ..., d_k), float32 or float64
        A batch of N examples; each is flattened to D = d_1 * ... * d_k features.
    w : ndarray of shape (D, M)
    b : ndarray of shape (M,)

    Returns
    -------
    out : ndarray of shape (N, M), the dtype of x
    cache : (x, w) for `affine_backward`

    Examples
    --------
    >>> x = np.array([[1.0, 2.0]]); w = np.array([[1.0], [-1.0]]); b = np.array([0.5])
    >>> affine_forward(x, w, b)[0]
    array([[-0.5]])
    """
    check = Args()
    x = check.floats("x", x, "N ...")
    if x.ndim < 2:
        raise check.error(f"x must have shape (N, d_1, ..., d_k) with k >= 1; got "
                          f"x.shape = {x.shape}")
    check.bind("D", math.prod(x.shape[1:]), "x (N, d_1, ..., d_k)")
    w = check.floats("w", w, "D M")
    b = check.floats("b", b, "M")
    # (N, D) rather than (N, -1): -1 cannot be inferred for an empty batch (N = 0).
    out = x.reshape(x.shape[0], w.shape[0]) @ w
    # In place: `@ w + b` would allocate a second (N, M) array, whose pages a large
    # layer faults in afresh on every call.
    out += b
    return out, (x, w)


@backward_of(affine_forward)
def affine_backward(dout, cache):
    """Backward pass of `affine_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, M), upstream gradient
    cache : from `affine_forward`

    Returns
    -------
    dx : ndarray of shape (N, d_1, ..., d_k); zeros where the caller skips it
        (`layers.contract.skipping_gradients`)
    dw : ndarray of shape (D, M)
    db : ndarray of shape (M,)
    """
    x, w = cache
    if gradient_skipped("x"):
        # np.zeros, not zeros_like: calloc'd pages that no one writes cost nothing,
        # where zeros_like fills them.
        dx = np.zeros(x.shape, x.dtype)
    else:
        dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], w.shape[0]).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


@register(affine_forward, affine_backward)
def affine_example(rng, dtype):
    n, d1, d2, m = dims(rng, (1, 4), (1, 3), (1, 3), (1, 4))
    x = normal(rng, (n, d1, d2), dtype)
    w = normal(rng, (d1 * d2, m), dtype)
    b = normal(rng, (m,), dtype)
    return x, w, b
