"""Layers applied at every step of a sequence: an affine map and a masked softmax loss.

- temporal affine, out[n, t] = x[n, t] @ w + b: the affine layer's backward with the N
  and T axes flattened together, dx = dout @ w.T, dw = sum_{n,t} x[n, t]^T dout[n, t],
  db = sum_{n,t} dout[n, t].
- temporal softmax loss (CS231n's captioning loss): cross-entropy of the scores at every
  step against the label there, counted only where ``mask`` is True, summed over the
  steps and averaged over the N sequences (not over the counted steps):
  L = -(1/N) sum_{n,t} mask[n, t] log softmax(x[n, t])[y[n, t]];
  dx[n, t] = mask[n, t] (softmax(x[n, t]) - onehot(y[n, t])) / N.
"""

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, differentiable, named_as_called
from .losses import softmax_terms
from .registry import register

__all__ = [
    "temporal_affine_forward", "temporal_affine_backward",
    "temporal_softmax_loss_forward", "temporal_softmax_loss_backward",
    "temporal_softmax_loss",
]


def affine_map(x, w, b):
    """x @ w + b over any leading axes of x (..., D), as one 2-d matmul.

    NumPy's matmul treats a 3-d x as a stack of separate small products, which is many
    times slower than one (N * T, D) @ (D, M) product.
    """
    out = x.reshape(-1, w.shape[0]) @ w
    out += b  # in place, as affine_forward adds its bias
    return out.reshape(x.shape[:-1] + w.shape[1:])


def affine_grads(dout, x, w):
    """Gradients of out = x @ w + b over any leading axes of x: (dx, dw, db).

    Parameters
    ----------
    dout : ndarray of shape (..., M)
    x : ndarray of shape (..., D), the leading axes of dout
    w : ndarray of shape (D, M)

    The recurrent and attention layers use it once after their loops, so that their
    weight gradients are one matmul over all steps rather than a sum of per-step products.
    """
    flat_dout = dout.reshape(-1, w.shape[1])
    dx = (flat_dout @ w.T).reshape(x.shape)
    dw = x.reshape(-1, w.shape[0]).T @ flat_dout
    db = flat_dout.sum(axis=0)
    return dx, dw, db


# -- temporal affine ----------------------------------------------------------------------

@differentiable("x", "w", "b")
def temporal_affine_forward(x, w, b):
    """The same affine map applied to the vector at every step of every sequence.

    Parameters
    ----------
    x : ndarray of shape (N, T, D), float32 or float64
    w : ndarray of shape (D, M)
    b : ndarray of shape (M,)

    Returns
    -------
    out : ndarray of shape (N, T, M), x[n, t] @ w + b
    cache : (x, w) for `temporal_affine_backward`
    """
    check = Args()
    x = check.floats("x", x, "N T D")
    w = check.floats("w", w, "D M")
    b = check.floats("b", b, "M")
    return affine_map(x, w, b), (x, w)


@backward_of(temporal_affine_forward)
def temporal_affine_backward(dout, cache):
    """Backward pass of `temporal_affine_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, T, M), upstream gradient
    cache : from `temporal_affine_forward`

    Returns
    -------
    dx : ndarray of shape (N, T, D)
    dw : ndarray of shape (D, M)
    db : ndarray of shape (M,)
    """
    x, w = cache
    return affine_grads(dout, x, w)


# -- temporal softmax loss ----------------------------------------------------------------

@differentiable("x")
def temporal_softmax_loss_forward(x, y, mask):
    """Softmax cross-entropy at every step, over the steps where ``mask`` is True.

    Parameters
    ----------
    x : ndarray of shape (N, T, V), float32 or float64, N >= 1
        Scores (logits) over a vocabulary of V words at each of T steps. As for
        `softmax_loss_forward`, NaN and +inf are refused, at every step, and -inf is a
        word of probability 0.
    y : integer ndarray of shape (N, T)
        The correct word at each step, 0 <= y[n, t] < V.
    mask : boolean ndarray of shape (N, T)
        True where the step counts toward the loss (False at padding, e.g. after <END>).

    Returns
    -------
    loss : NumPy scalar of x's dtype
        -(1/N) sum over the True steps of log softmax(x[n, t])[y[n, t]]: summed over steps,
        averaged over the N sequences, as in CS231n.
    cache : for `temporal_softmax_loss_backward`

    Examples
    --------
    >>> x = np.zeros((1, 2, 4)); mask = np.array([[True, False]])
    >>> temporal_softmax_loss_forward(x, np.array([[0, 3]]), mask)[0]  # log 4, once
    np.float64(1.3862943611198906)
    """
    check = Args()
    x = check.floats("x", x, "N T V")
    if x.shape[2] == 0:
        raise check.error(f"x must score at least one word (V >= 1); got x.shape = {x.shape}")
    if x.shape[0] == 0:
        raise check.error(f"x must hold at least one sequence (N >= 1): the loss averages "
                          f"over the N sequences; got x.shape = {x.shape}")
    y = check.ints("y", y, "N T", high=check.dim("V"), high_name="V")
    mask = check.bools("mask", mask, "N T")
    # At every step, masked or not (softmax_terms refuses NaN anywhere in x): a NaN there
    # would still reach dx as NaN * 0.
    exps, sums, losses = softmax_terms(check, x, y)
    # The sum of the terms -log softmax, not a negated sum: with no True step the sum is
    # 0.0, and negating it afterwards would give -0.0.
    loss = np.sum(losses[mask]) / x.shape[0]
    return x.dtype.type(loss), (exps, sums, y, mask)


@backward_of(temporal_softmax_loss_forward)
def temporal_softmax_loss_backward(dloss, cache):
    """Backward pass of `temporal_softmax_loss_forward`.

    Parameters
    ----------
    dloss : float or 0-d array, upstream gradient of the loss
    cache : from `temporal_softmax_loss_forward`

    Returns
    -------
    dx : ndarray of shape (N, T, V), dloss * mask * (softmax(x) - onehot(y)) / N
    """
    exps, sums, y, mask = cache
    # Per step: dloss / N where the mask is True, 0 elsewhere.
    scale = mask * (dloss / exps.shape[0])
    # softmax(x) = exps / sums, scaled in the same pass; forward's exps are reused.
    dx = exps * (scale / sums)[..., None]
    at_y = y[..., None]
    np.put_along_axis(dx, at_y, np.take_along_axis(dx, at_y, axis=2) - scale[..., None],
                      axis=2)
    return dx


@named_as_called
def temporal_softmax_loss(x, y, mask, verbose=False):
    """CS231n's fused form: ``(loss, dx)`` from the pair, with dloss = 1.

    Parameters
    ----------
    x, y, mask
        As for `temporal_softmax_loss_forward`: scores (N, T, V), labels (N, T), boolean
        mask (N, T).
    verbose : bool
        Print the shape of the flattened gradient, (N * T, V), as CS231n's does.

    Returns
    -------
    loss : NumPy scalar of x's dtype, as `temporal_softmax_loss_forward`
    dx : ndarray of x's shape and dtype
    """
    loss, cache = temporal_softmax_loss_forward(x, y, mask)
    dx = temporal_softmax_loss_backward(1.0, cache)
    if verbose:
        n, t, v = dx.shape
        print("dx_flat: ", (n * t, v))
    return loss, dx


# -- registration -------------------------------------------------------------------------

@register(temporal_affine_forward, temporal_affine_backward)
def temporal_affine_example(rng, dtype):
    n, t, d, m = dims(rng, (1, 3), (1, 4), (1, 3), (1, 3))
    return normal(rng, (n, t, d), dtype), normal(rng, (d, m), dtype), normal(rng, (m,), dtype)


@register(temporal_softmax_loss_forward, temporal_softmax_loss_backward)
def temporal_softmax_loss_example(rng, dtype):
    n, t, v = dims(rng, (1, 3), (1, 4), (2, 5))
    x = normal(rng, (n, t, v), dtype, scale=2.0)
    mask = rng.random((n, t)) < 0.7
    return x, rng.integers(v, size=(n, t)), mask
