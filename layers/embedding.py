"""Word embedding: look up a vector for every word index, out[i] = W[x[i]].

The indices may have any shape, as in every framework's embedding: (N, T) for CS231n's
captioning minibatches, (N,) for one step of sampling, or a single Python int.

Backward: each row W[v] receives the sum of the upstream gradients at every position
where word v occurs, dW[v] = sum_{i : x[i] = v} dout[i]. A word that occurs twice
in a batch gets both contributions: they add (``np.add.at``), never overwrite, as
``dW[x] += dout`` would.
"""

import numbers

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, differentiable
from .registry import register

__all__ = ["word_embedding_forward", "word_embedding_backward"]


@differentiable("W")
def word_embedding_forward(x, W):
    """Word vectors for an array of word indices of any shape.

    Parameters
    ----------
    x : int, or integer ndarray of any shape S
        Word indices, 0 <= x < V: (N, T) for a minibatch of sequences, (N,) for one
        step. It gets no gradient.
    W : ndarray of shape (V, D), float32 or float64
        One D-dimensional vector per word of a V-word vocabulary.

    Returns
    -------
    out : ndarray of shape S + (D,), W's dtype; (D,) for a single index
    cache : (x, W.shape, W.dtype) for `word_embedding_backward`

    Examples
    --------
    >>> W = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> word_embedding_forward(np.array([[1, 1, 0]]), W)[0]
    array([[[2., 3.],
            [2., 3.],
            [0., 1.]]])
    >>> word_embedding_forward(1, W)[0]
    array([2., 3.])
    """
    check = Args()
    W = check.floats("W", W, "V D")
    if isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.generic)):
        x = np.asarray(x)
    x = check.ints("x", x, high=check.dim("V"), high_name="V")
    return W[x], (x, W.shape, W.dtype)


@backward_of(word_embedding_forward)
def word_embedding_backward(dout, cache):
    """Backward pass of `word_embedding_forward`.

    Parameters
    ----------
    dout : ndarray of shape S + (D,), upstream gradient, S the shape of the indices
    cache : from `word_embedding_forward`

    Returns
    -------
    dW : ndarray of shape (V, D); rows of words that do not occur are zero
    """
    x, shape, dtype = cache
    dW = np.zeros(shape, dtype=dtype)
    np.add.at(dW, x, dout)
    return dW


@register(word_embedding_forward, word_embedding_backward)
def word_embedding_example(rng, dtype):
    # More positions than words, so that some word occurs more than once; the indices
    # are (N, T) as in captioning, or (N,) as in one sampling step.
    n, t, v, d = dims(rng, (1, 3), (2, 4), (2, 4), (1, 3))
    shape = (n, t) if rng.random() < 0.5 else (n * t,)
    return rng.integers(v, size=shape), normal(rng, (v, d), dtype)
