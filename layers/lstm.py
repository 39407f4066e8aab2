"""Long short-term memory (Hochreiter & Schmidhuber 1997), in CS231n's form.

Step, with the four gate blocks of a = x @ Wx + prev_h @ Wh + b (N, 4H) in CS231n's
order (i, f, o, g):

    i = sigmoid(a_i)  input gate       next_c = f * prev_c + i * g
    f = sigmoid(a_f)  forget gate      next_h = o * tanh(next_c)
    o = sigmoid(a_o)  output gate
    g = tanh(a_g)     candidate cell

Backward: dc = dnext_c + dnext_h * o * (1 - tanh(next_c)^2) is the cell's total gradient;
then da_i = dc g i (1 - i), da_f = dc prev_c f (1 - f), da_o = dnext_h tanh(next_c) o (1 - o),
da_g = dc i (1 - g^2), dprev_c = dc f, and the affine part as in the RNN.

PyTorch's ``nn.LSTM`` orders the blocks (i, f, g, o), stores the weights transposed and
has two biases: Wx = weight_ih_l0.T and Wh = weight_hh_l0.T with the column blocks
reordered, b = bias_ih_l0 + bias_hh_l0 reordered (see tests/test_torch_sequence.py).

The step takes inputs without the batch axis as CS231n's plain-NumPy step does: x (D,),
prev_h (H,) or prev_c (H,) broadcast against the batch of the others (captioning's
``sample()`` embeds its start token once), each gradient summed back over the batch.

The sequence version starts from the given h0 and a zero cell state (as CS231n), computes
the input part x @ Wx + b of every step in one matmul before the loop, and after the
backward loop gets dx, dWx, dWh and db from single matmuls over all steps.
"""

import numpy as np

from ._numerics import sigmoid
from ._recurrent import (
    hidden_weight_grad, recurrent_args, recurrent_example, step_batch,
)
from .contract import backward_of, differentiable
from .gates import unbroadcast
from .registry import register
from .temporal import affine_grads, affine_map

__all__ = ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward"]


@differentiable("x", "prev_h", "prev_c", "Wx", "Wh", "b")
def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One step of an LSTM.

    Parameters
    ----------
    x : ndarray of shape (N, D) or (D,), float32 or float64
        Input at this step; a (D,) vector is the input of every example of the batch.
    prev_h : ndarray of shape (N, H) or (H,), previous hidden state
    prev_c : ndarray of shape (N, H) or (H,), previous cell state, or a number (CS231n's
        captioning starts with ``prev_c = 0``). A vector or number is broadcast to the
        batch; one of x, prev_h and prev_c must have the batch axis.
    Wx : ndarray of shape (D, 4H), input-to-hidden weights, column blocks (i, f, o, g)
    Wh : ndarray of shape (H, 4H), hidden-to-hidden weights, same blocks
    b : ndarray of shape (4H,)

    Returns
    -------
    next_h : ndarray of shape (N, H)
    next_c : ndarray of shape (N, H)
    cache : for `lstm_step_backward`
    """
    (x, prev_h, prev_c), shapes = step_batch(
        {"x": x, "prev_h": prev_h, "prev_c": prev_c}, Wx, Wh)
    x, prev_h, prev_c, Wx, Wh, b = recurrent_args(
        4, x, "N D", {"prev_h": prev_h, "prev_c": prev_c}, Wx, Wh,
        {"b": b})
    a = x @ Wx + prev_h @ Wh + b
    gates, next_c, tanh_c, next_h = (np.empty_like(a), np.empty_like(prev_c),
                                     np.empty_like(prev_c), np.empty_like(prev_c))
    _step(a, prev_c, gates, next_c, tanh_c, next_h)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, gates, tanh_c, shapes)


@backward_of(lstm_step_forward)
def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward pass of `lstm_step_forward`.

    Parameters
    ----------
    dnext_h : ndarray of shape (N, H), upstream gradient of next_h
    dnext_c : ndarray of shape (N, H), upstream gradient of next_c
    cache : from `lstm_step_forward`

    Returns
    -------
    dx : ndarray of x's shape, (N, D) or (D,) (summed over the batch)
    dprev_h : ndarray of prev_h's shape, (N, H) or (H,)
    dprev_c : ndarray of prev_c's shape
    dWx : ndarray of shape (D, 4H)
    dWh : ndarray of shape (H, 4H)
    db : ndarray of shape (4H,)
    """
    x, prev_h, prev_c, Wx, Wh, gates, tanh_c, (x_shape, h_shape, c_shape) = cache
    da = np.empty_like(gates)
    dprev_c = _cell_backward(dnext_h, dnext_c, prev_c, gates, tanh_c, da)
    dx, dWx, db = affine_grads(da, x, Wx)
    return (unbroadcast(dx, x_shape), unbroadcast(da @ Wh.T, h_shape),
            unbroadcast(dprev_c, c_shape), dWx, prev_h.T @ da, db)


@differentiable("x", "h0", "Wx", "Wh", "b")
def lstm_forward(x, h0, Wx, Wh, b):
    """An LSTM over whole sequences, from hidden state h0 and a zero cell state.

    Parameters
    ----------
    x : ndarray of shape (N, T, D), float32 or float64
        N sequences of T input vectors.
    h0 : ndarray of shape (N, H), initial hidden state
    Wx : ndarray of shape (D, 4H), column blocks (i, f, o, g)
    Wh : ndarray of shape (H, 4H)
    b : ndarray of shape (4H,)

    Returns
    -------
    h : ndarray of shape (N, T, H), the hidden state after every step
    cache : for `lstm_backward`
    """
    x, h0, Wx, Wh, b = recurrent_args(4, x, "N T D", {"h0": h0}, Wx, Wh,
                                      {"b": b})
    n, steps, hidden = x.shape[0], x.shape[1], h0.shape[1]
    xa = affine_map(x, Wx, b)
    gates = np.empty_like(xa)
    c = np.empty((n, steps, hidden), dtype=x.dtype)
    tanh_c = np.empty_like(c)
    h = np.empty_like(c)
    prev_h, prev_c = h0, np.zeros_like(h0)
    for t in range(steps):
        a = prev_h @ Wh
        a += xa[:, t]
        _step(a, prev_c, gates[:, t], c[:, t], tanh_c[:, t], h[:, t])
        prev_h, prev_c = h[:, t], c[:, t]
    return h, (x, h0, Wx, Wh, gates, c, tanh_c, h)


@backward_of(lstm_forward)
def lstm_backward(dh, cache):
    """Backpropagation through time for `lstm_forward`.

    Parameters
    ----------
    dh : ndarray of shape (N, T, H), upstream gradient of every hidden state
    cache : from `lstm_forward`

    Returns
    -------
    dx : ndarray of shape (N, T, D)
    dh0 : ndarray of shape (N, H)
    dWx : ndarray of shape (D, 4H)
    dWh : ndarray of shape (H, 4H)
    db : ndarray of shape (4H,)
    """
    x, h0, Wx, Wh, gates, c, tanh_c, h = cache
    da = np.empty_like(gates)
    # Gradients reaching step t's outputs from step t + 1.
    dnext_h, dnext_c = np.zeros_like(h0), np.zeros_like(h0)
    for t in reversed(range(h.shape[1])):
        prev_c = c[:, t - 1] if t > 0 else np.zeros_like(h0)
        dnext_c = _cell_backward(dh[:, t] + dnext_h, dnext_c, prev_c, gates[:, t],
                                 tanh_c[:, t], da[:, t])
        dnext_h = da[:, t] @ Wh.T
    dx, dWx, db = affine_grads(da, x, Wx)
    return dx, dnext_h, dWx, hidden_weight_grad(da, h0, h), db


def _step(a, prev_c, gates, next_c, tanh_c, next_h):
    """One LSTM step from its pre-activations a (N, 4H), written into the output arrays.

    gates (N, 4H) receives (i, f, o, g); next_c, tanh_c = tanh(next_c) and next_h are
    (N, H). Writing in place lets the sequence version fill its (N, T, ...) arrays
    without a copy per step.
    """
    hidden = prev_c.shape[1]
    gates[:, :3 * hidden] = sigmoid(a[:, :3 * hidden])
    np.tanh(a[:, 3 * hidden:], out=gates[:, 3 * hidden:])
    i, f, o, g = _blocks(gates, hidden)
    np.multiply(f, prev_c, out=next_c)
    next_c += i * g
    np.tanh(next_c, out=tanh_c)
    np.multiply(o, tanh_c, out=next_h)


def _blocks(array, hidden):
    """The four H-wide column blocks of an (N, 4H) array, as views."""
    return [array[:, k * hidden:(k + 1) * hidden] for k in range(4)]


def _cell_backward(dnext_h, dnext_c, prev_c, gates, tanh_c, da):
    """Write the pre-activation gradient into `da` (N, 4H); return dprev_c."""
    hidden = prev_c.shape[1]
    i, f, o, g = _blocks(gates, hidden)
    da_i, da_f, da_o, da_g = _blocks(da, hidden)
    dc = dnext_h * o
    dc *= 1 - tanh_c * tanh_c
    dc += dnext_c
    np.multiply(dc * g, i * (1 - i), out=da_i)
    np.multiply(dc * prev_c, f * (1 - f), out=da_f)
    np.multiply(dnext_h * tanh_c, o * (1 - o), out=da_o)
    np.multiply(dc * i, 1 - g * g, out=da_g)
    return dc * f


@register(lstm_step_forward, lstm_step_backward)
def lstm_step_example(rng, dtype):
    x, prev_h, wx, wh, b = recurrent_example(rng, dtype, gates=4, sequence=False)
    prev_c = rng.standard_normal(prev_h.shape).astype(dtype)
    return x, prev_h, prev_c, wx, wh, b


@register(lstm_forward, lstm_backward)
def lstm_example(rng, dtype):
    return recurrent_example(rng, dtype, gates=4, sequence=True)
