"""Gated recurrent unit, the variant of PyTorch's ``nn.GRU`` (and cuDNN's).

Step, with xa = x @ Wx + bx and ha = prev_h @ Wh + bh, each (N, 3H) with column blocks
in PyTorch's order (r, z, n):

    r = sigmoid(xa_r + ha_r)       reset gate
    z = sigmoid(xa_z + ha_z)       update gate
    n = tanh(xa_n + r * ha_n)      candidate state
    next_h = (1 - z) * n + z * prev_h

The reset gate multiplies ha_n = prev_h @ Wh_n + bh_n, i.e. it is applied AFTER the
hidden matmul and its bias. In the original GRU (Cho et al. 2014) it is applied before:
n = tanh(xa_n + (r * prev_h) @ Wh_n). The two are different functions; this module
implements only PyTorch's, which is why it keeps two biases: bh_n sits inside the product
with r, so it cannot be folded into bx_n. (For r and z the two biases only add.)

Mapping to ``torch.nn.GRU`` (one layer): Wx = weight_ih_l0.T, Wh = weight_hh_l0.T,
bx = bias_ih_l0, bh = bias_hh_l0, with the same block order (r, z, n); no reordering.

Backward, from dnext_h: dn = dnext_h (1 - z), dz = dnext_h (prev_h - n), and
dprev_h gets dnext_h z directly. With dan = dn (1 - n^2) (the gradient at n's
pre-activation), dar = dan ha_n r (1 - r) and daz = dz z (1 - z):
dxa = (dar, daz, dan) and dha = (dar, daz, dan r); then dx = dxa @ Wx.T,
dprev_h += dha @ Wh.T, dWx = x.T @ dxa, dbx = sum dxa, dWh = prev_h.T @ dha, dbh = sum dha.
"""

import numpy as np

from ._numerics import sigmoid
from ._recurrent import hidden_weight_grad, recurrent_args, recurrent_example
from .contract import backward_of, differentiable
from .registry import register
from .temporal import affine_grads, affine_map

__all__ = ["gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward"]


@differentiable("x", "prev_h", "Wx", "Wh", "bx", "bh")
def gru_step_forward(x, prev_h, Wx, Wh, bx, bh):
    """One step of a GRU in PyTorch's formulation (see the module docstring).

    Parameters
    ----------
    x : ndarray of shape (N, D), float32 or float64
    prev_h : ndarray of shape (N, H)
    Wx : ndarray of shape (D, 3H), input-to-hidden weights, column blocks (r, z, n)
    Wh : ndarray of shape (H, 3H), hidden-to-hidden weights, same blocks
    bx : ndarray of shape (3H,), input bias (torch's bias_ih)
    bh : ndarray of shape (3H,), hidden bias (torch's bias_hh)

    Returns
    -------
    next_h : ndarray of shape (N, H)
    cache : for `gru_step_backward`
    """
    x, prev_h, Wx, Wh, bx, bh = recurrent_args(
        3, x, "N D", {"prev_h": prev_h}, Wx, Wh, {"bx": bx, "bh": bh})
    rzn, ha_n, next_h = _step(x @ Wx + bx, prev_h, Wh, bh)
    return next_h, (x, prev_h, Wx, Wh, rzn, ha_n)


@backward_of(gru_step_forward)
def gru_step_backward(dnext_h, cache):
    """Backward pass of `gru_step_forward`.

    Parameters
    ----------
    dnext_h : ndarray of shape (N, H), upstream gradient
    cache : from `gru_step_forward`

    Returns
    -------
    dx : ndarray of shape (N, D)
    dprev_h : ndarray of shape (N, H)
    dWx : ndarray of shape (D, 3H)
    dWh : ndarray of shape (H, 3H)
    dbx : ndarray of shape (3H,)
    dbh : ndarray of shape (3H,)
    """
    x, prev_h, Wx, Wh, rzn, ha_n = cache
    dxa, dha = np.empty_like(rzn), np.empty_like(rzn)
    dprev_h = _step_backward(dnext_h, prev_h, Wh, rzn, ha_n, dxa, dha)
    dx, dWx, dbx = affine_grads(dxa, x, Wx)
    return dx, dprev_h, dWx, prev_h.T @ dha, dbx, dha.sum(axis=0)


@differentiable("x", "h0", "Wx", "Wh", "bx", "bh")
def gru_forward(x, h0, Wx, Wh, bx, bh):
    """A GRU (PyTorch's formulation) over whole sequences.

    Parameters
    ----------
    x : ndarray of shape (N, T, D), float32 or float64
    h0 : ndarray of shape (N, H), initial hidden state
    Wx : ndarray of shape (D, 3H), column blocks (r, z, n)
    Wh : ndarray of shape (H, 3H)
    bx : ndarray of shape (3H,)
    bh : ndarray of shape (3H,)

    Returns
    -------
    h : ndarray of shape (N, T, H), the hidden state after every step
    cache : for `gru_backward`
    """
    x, h0, Wx, Wh, bx, bh = recurrent_args(3, x, "N T D", {"h0": h0}, Wx,
                                           Wh, {"bx": bx, "bh": bh})
    xa = affine_map(x, Wx, bx)
    rzn = np.empty_like(xa)
    ha_n = np.empty(x.shape[:2] + h0.shape[1:], dtype=x.dtype)
    h = np.empty_like(ha_n)
    prev_h = h0
    for t in range(x.shape[1]):
        rzn[:, t], ha_n[:, t], h[:, t] = _step(xa[:, t], prev_h, Wh, bh)
        prev_h = h[:, t]
    return h, (x, h0, Wx, Wh, rzn, ha_n, h)


@backward_of(gru_forward)
def gru_backward(dh, cache):
    """Backpropagation through time for `gru_forward`.

    Parameters
    ----------
    dh : ndarray of shape (N, T, H), upstream gradient of every hidden state
    cache : from `gru_forward`

    Returns
    -------
    dx : ndarray of shape (N, T, D)
    dh0 : ndarray of shape (N, H)
    dWx : ndarray of shape (D, 3H)
    dWh : ndarray of shape (H, 3H)
    dbx : ndarray of shape (3H,)
    dbh : ndarray of shape (3H,)
    """
    x, h0, Wx, Wh, rzn, ha_n, h = cache
    dxa, dha = np.empty_like(rzn), np.empty_like(rzn)
    dnext = np.zeros_like(h0)  # gradient reaching h[:, t] from step t + 1
    for t in reversed(range(h.shape[1])):
        prev_h = h[:, t - 1] if t > 0 else h0
        dnext = _step_backward(dh[:, t] + dnext, prev_h, Wh, rzn[:, t], ha_n[:, t],
                               dxa[:, t], dha[:, t])
    dx, dWx, dbx = affine_grads(dxa, x, Wx)
    dbh = dha.reshape(-1, dha.shape[2]).sum(axis=0)
    return dx, dnext, dWx, hidden_weight_grad(dha, h0, h), dbx, dbh


def _step(xa, prev_h, Wh, bh):
    """(r, z, n) as one (N, 3H) array, ha_n and next_h, from xa = x @ Wx + bx."""
    hidden = prev_h.shape[1]
    ha = prev_h @ Wh + bh
    rzn = np.empty_like(ha)
    rzn[:, :2 * hidden] = sigmoid(xa[:, :2 * hidden] + ha[:, :2 * hidden])
    r, z = rzn[:, :hidden], rzn[:, hidden:2 * hidden]
    ha_n = ha[:, 2 * hidden:]
    n = rzn[:, 2 * hidden:]
    np.tanh(xa[:, 2 * hidden:] + r * ha_n, out=n)
    return rzn, ha_n, n + z * (prev_h - n)


def _step_backward(dnext_h, prev_h, Wh, rzn, ha_n, dxa, dha):
    """Write the gradients of xa and ha into `dxa`, `dha` (N, 3H); return dprev_h."""
    hidden = prev_h.shape[1]
    r, z, n = rzn[:, :hidden], rzn[:, hidden:2 * hidden], rzn[:, 2 * hidden:]
    dan = dnext_h * (1 - z) * (1 - n * n)
    dxa[:, :hidden] = dan * ha_n * r * (1 - r)
    dxa[:, hidden:2 * hidden] = dnext_h * (prev_h - n) * z * (1 - z)
    dxa[:, 2 * hidden:] = dan
    dha[:, :2 * hidden] = dxa[:, :2 * hidden]
    np.multiply(dan, r, out=dha[:, 2 * hidden:])
    return dha @ Wh.T + dnext_h * z


@register(gru_step_forward, gru_step_backward)
def gru_step_example(rng, dtype):
    return recurrent_example(rng, dtype, gates=3, sequence=False, biases=2)


@register(gru_forward, gru_backward)
def gru_example(rng, dtype):
    return recurrent_example(rng, dtype, gates=3, sequence=True, biases=2)
