"""Word embedding: look up a vector for every word index, out[n, t] = W[x[n, t]].

Backward: each row W[v] receives the sum of the upstream gradients at every position
where word v occurs, dW[v] = sum_{n,t : x[n,t] = v} dout[n, t]. A word that occurs twice
in a batch gets both contributions: they add (``np.add.at``), never overwrite, as
``dW[x] += dout`` would.
"""

import numpy as np

from ._examples import dims, normal
from .contract import Args, backward_of, differentiable, upstream
from .registry import register

__all__ = ["word_embedding_forward", "word_embedding_backward"]


@differentiable("W")
def word_embedding_forward(x, W):
    """Word vectors for a minibatch of index sequences.

    Parameters
    ----------
    x : integer ndarray of shape (N, T)
        Word indices, 0 <= x[n, t] < V. It gets no gradient.
    W : ndarray of shape (V, D), float32 or float64
        One D-dimensional vector per word of a V-word vocabulary.

    Returns
    -------
    out : ndarray of shape (N, T, D), W's dtype
    cache : (x, W.shape, W.dtype) for `word_embedding_backward`

    Examples
    --------
    >>> W = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> word_embedding_forward(np.array([[1, 1, 0]]), W)[0]
    array([[[2., 3.],
            [2., 3.],
            [0., 1.]]])
    """
    check = Args("word_embedding_forward")
    W = check.floats("W", W, "V D")
    x = check.ints("x", x, "N T", high=check.dim("V"), high_name="V")
    return W[x], (x, W.shape, W.dtype)


@backward_of(word_embedding_forward)
def word_embedding_backward(dout, cache):
    """Backward pass of `word_embedding_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, T, D), upstream gradient
    cache : from `word_embedding_forward`

    Returns
    -------
    dW : ndarray of shape (V, D); rows of words that do not occur are zero
    """
    x, shape, dtype = cache
    dout = upstream("word_embedding_backward", dout, x.shape + shape[1:], dtype)
    dW = np.zeros(shape, dtype=dtype)
    np.add.at(dW, x, dout)
    return dW


@register(word_embedding_forward, word_embedding_backward)
def word_embedding_example(rng, dtype):
    # More positions than words, so that some word occurs more than once.
    n, t, v, d = dims(rng, (1, 3), (2, 4), (2, 4), (1, 3))
    return rng.integers(v, size=(n, t)), normal(rng, (v, d), dtype)
