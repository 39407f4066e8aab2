"""Vanilla (Elman) recurrent network with tanh, one step and a whole sequence.

Step: a = x @ Wx + prev_h @ Wh + b, next_h = tanh(a). Backward, with
da = dnext_h * (1 - next_h^2): dx = da @ Wx.T, dprev_h = da @ Wh.T, dWx = x.T @ da,
dWh = prev_h.T @ da, db = sum of da over the batch.

As in CS231n's plain-NumPy step, x of shape (D,) or prev_h of shape (H,) (an input
without the batch axis, as captioning's ``sample()`` passes its start token's embedding)
is broadcast against the other's batch, and its gradient summed over the batch. The
sequence version takes x (N, T, D) only, as CS231n's (it reads N, T, D from x.shape),
and h0 (N, H).

Sequence: the step applied for t = 0, ..., T-1 from h0. Backpropagation through time
runs the steps in reverse, adding the gradient that flows back from step t+1 to the
upstream gradient of h[:, t]; the weight gradients are then one matmul over all steps.
"""

import numpy as np

from ._numerics import sigmoid as stable_sigmoid
from ._recurrent import (
    hidden_weight_grad, recurrent_args, recurrent_example, step_batch,
)
from .contract import backward_of, differentiable
from .gates import unbroadcast
from .registry import register
from .temporal import affine_grads, affine_map

# `sigmoid` is public here, as in CS231n's rnn_layers.py, but not exported by `layers`:
# `layers.cs224n` has CS224N's function of that name.
__all__ = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"]


def sigmoid(x):
    """The logistic sigmoid 1 / (1 + exp(-x)), elementwise: CS231n's ``rnn_layers.sigmoid``.

    Numerically stable, as CS231n's: exp is only taken of -|x|, so no input overflows.

    Parameters
    ----------
    x : ndarray of any shape (or a number); float32 stays float32, other numbers give
        float64

    Returns
    -------
    ndarray of x's shape

    Examples
    --------
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    return stable_sigmoid(np.asarray(x))


@differentiable("x", "prev_h", "Wx", "Wh", "b")
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One step of a tanh RNN.

    Parameters
    ----------
    x : ndarray of shape (N, D) or (D,), float32 or float64
        Input at this step; a (D,) vector is the input of every example of the batch.
    prev_h : ndarray of shape (N, H) or (H,)
        Hidden state from the previous step; a (H,) vector is broadcast likewise. One of
        x and prev_h must have the batch axis.
    Wx : ndarray of shape (D, H), input-to-hidden weights
    Wh : ndarray of shape (H, H), hidden-to-hidden weights
    b : ndarray of shape (H,)

    Returns
    -------
    next_h : ndarray of shape (N, H), tanh(x @ Wx + prev_h @ Wh + b)
    cache : for `rnn_step_backward`
    """
    (x, prev_h), shapes = step_batch({"x": x, "prev_h": prev_h},
                                    Wx, Wh)
    x, prev_h, Wx, Wh, b = recurrent_args(1, x, "N D",
                                          {"prev_h": prev_h}, Wx, Wh, {"b": b})
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h, shapes)


@backward_of(rnn_step_forward)
def rnn_step_backward(dnext_h, cache):
    """Backward pass of `rnn_step_forward`.

    Parameters
    ----------
    dnext_h : ndarray of shape (N, H), upstream gradient
    cache : from `rnn_step_forward`

    Returns
    -------
    dx : ndarray of x's shape, (N, D) or (D,) (summed over the batch)
    dprev_h : ndarray of prev_h's shape, (N, H) or (H,)
    dWx : ndarray of shape (D, H)
    dWh : ndarray of shape (H, H)
    db : ndarray of shape (H,)
    """
    x, prev_h, Wx, Wh, next_h, (x_shape, h_shape) = cache
    da = dnext_h * (1 - next_h * next_h)
    dx, dWx, db = affine_grads(da, x, Wx)
    return (unbroadcast(dx, x_shape), unbroadcast(da @ Wh.T, h_shape), dWx,
            prev_h.T @ da, db)


@differentiable("x", "h0", "Wx", "Wh", "b")
def rnn_forward(x, h0, Wx, Wh, b):
    """A tanh RNN over whole sequences.

    Parameters
    ----------
    x : ndarray of shape (N, T, D), float32 or float64
        N sequences of T input vectors.
    h0 : ndarray of shape (N, H), initial hidden state
    Wx : ndarray of shape (D, H)
    Wh : ndarray of shape (H, H)
    b : ndarray of shape (H,)

    Returns
    -------
    h : ndarray of shape (N, T, H), the hidden state after every step
    cache : for `rnn_backward`
    """
    x, h0, Wx, Wh, b = recurrent_args(1, x, "N T D", {"h0": h0}, Wx, Wh,
                                      {"b": b})
    # The input part of every step at once: one large matmul instead of T small ones.
    xa = affine_map(x, Wx, b)
    h = np.empty(xa.shape, dtype=x.dtype)
    prev_h = h0
    for t in range(x.shape[1]):
        prev_h = h[:, t] = np.tanh(xa[:, t] + prev_h @ Wh)
    return h, (x, h0, Wx, Wh, h)


@backward_of(rnn_forward)
def rnn_backward(dh, cache):
    """Backpropagation through time for `rnn_forward`.

    Parameters
    ----------
    dh : ndarray of shape (N, T, H)
        Upstream gradient of every hidden state (from a loss at each step).
    cache : from `rnn_forward`

    Returns
    -------
    dx : ndarray of shape (N, T, D)
    dh0 : ndarray of shape (N, H)
    dWx : ndarray of shape (D, H)
    dWh : ndarray of shape (H, H)
    db : ndarray of shape (H,)
    """
    x, h0, Wx, Wh, h = cache
    da = np.empty_like(h)
    dnext = np.zeros_like(h0)  # gradient reaching h[:, t] from step t + 1
    for t in reversed(range(h.shape[1])):
        da[:, t] = (dh[:, t] + dnext) * (1 - h[:, t] * h[:, t])
        dnext = da[:, t] @ Wh.T
    dx, dWx, db = affine_grads(da, x, Wx)
    return dx, dnext, dWx, hidden_weight_grad(da, h0, h), db


@register(rnn_step_forward, rnn_step_backward)
def rnn_step_example(rng, dtype):
    return recurrent_example(rng, dtype, gates=1, sequence=False)


@register(rnn_forward, rnn_backward)
def rnn_example(rng, dtype):
    return recurrent_example(rng, dtype, gates=1, sequence=True)
