"""word2vec's skip-gram losses (Mikolov et al. 2013), as in CS224N's assignment 2.

Each word w has a center vector v_w (a row of ``center_vectors``) and an outside vector
u_w (a row of ``outside_vectors``, the matrix U of shape (V, D)). For one center vector
v_c and one observed outside word o:

- naive softmax: J = -log softmax(U v_c)[o]. With yhat = softmax(U v_c) and y the one-hot
  vector of o: dJ/dv_c = U^T (yhat - y), dJ/dU = (yhat - y) v_c^T.
- negative sampling with K negative words k_1..k_K:
  J = -log sigmoid(u_o . v_c) - sum_k log sigmoid(-u_k . v_c);
  dJ/dv_c = -(1 - sigmoid(u_o . v_c)) u_o + sum_k (1 - sigmoid(-u_k . v_c)) u_k,
  dJ/du_o = -(1 - sigmoid(u_o . v_c)) v_c, dJ/du_k = (1 - sigmoid(-u_k . v_c)) v_c for
  each occurrence of k: a word drawn twice as a negative is counted twice (as when
  CS224N's sampler draws it twice). log sigmoid(s) is computed as -softplus(-s).

Skip-gram sums one of these losses over the outside words of a window around the center
word (CS224N sums; it does not average).

As every loss, these refuse NaN and infinite values in the vectors they use, and scores
u_w . v_c that overflow the dtype (ValueError naming the argument): a NaN loss would
silently stop training. Rows of the vector matrices that a call does not use are not
looked at.
"""

import numbers

import numpy as np

from ._examples import dims, normal
from ._numerics import log_softmax, sigmoid, softmax, softplus
from .contract import Args, backward_of, differentiable
from .registry import Example, register

__all__ = [
    "naive_softmax_loss_forward", "naive_softmax_loss_backward",
    "negative_sampling_loss_forward", "negative_sampling_loss_backward",
    "skipgram_forward", "skipgram_backward",
]


@differentiable("center_vec", "outside_vectors")
def naive_softmax_loss_forward(center_vec, outside_idx, outside_vectors):
    """Cross-entropy of a softmax over the whole vocabulary, for one (center, outside) pair.

    Parameters
    ----------
    center_vec : ndarray of shape (D,), float32 or float64
        The center word's vector v_c.
    outside_idx : int or integer 0-d array
        The index o of the observed outside word, 0 <= o < V. It gets no gradient.
    outside_vectors : ndarray of shape (V, D)
        The outside vectors U, one row per word.

    Returns
    -------
    loss : NumPy scalar of center_vec's dtype, -log softmax(U v_c)[o]
    cache : for `naive_softmax_loss_backward`

    Examples
    --------
    >>> U = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> naive_softmax_loss_forward(np.array([0.0, 0.0]), 1, U)[0]  # log 2
    np.float64(0.6931471805599453)
    """
    check = Args()
    center_vec = check.floats("center_vec", center_vec, "D")
    outside_vectors = check.floats("outside_vectors", outside_vectors, "V D")
    outside_idx = _word_indices(check, "outside_idx", outside_idx, "")
    return _naive_softmax_loss(check, center_vec, outside_idx, outside_vectors)


@backward_of(naive_softmax_loss_forward)
def naive_softmax_loss_backward(dloss, cache):
    """Backward pass of `naive_softmax_loss_forward`.

    Parameters
    ----------
    dloss : float or 0-d array, upstream gradient of the loss
    cache : from `naive_softmax_loss_forward`

    Returns
    -------
    dcenter_vec : ndarray of shape (D,), dloss * U^T (yhat - y)
    doutside_vectors : ndarray of shape (V, D), dloss * (yhat - y) v_c^T
    """
    return _naive_softmax_grads(dloss, cache)


@differentiable("center_vec", "outside_vectors")
def negative_sampling_loss_forward(center_vec, outside_idx, outside_vectors, negative_idx):
    """The negative-sampling loss for one (center, outside) pair and K given negatives.

    Parameters
    ----------
    center_vec : ndarray of shape (D,), float32 or float64, v_c
    outside_idx : int or integer 0-d array, the observed outside word o
    outside_vectors : ndarray of shape (V, D), U
    negative_idx : integer ndarray of shape (K,)
        The K negative words k_1..k_K (drawn by the caller, e.g. from the unigram
        distribution to the 3/4 power). Repeats count once per occurrence; a negative
        equal to o is allowed and treated like any other.

    Returns
    -------
    loss : NumPy scalar of center_vec's dtype,
        -log sigmoid(u_o . v_c) - sum_k log sigmoid(-u_k . v_c)
    cache : for `negative_sampling_loss_backward`

    Examples
    --------
    >>> U = np.array([[1.0, 0.0], [-1.0, 0.0]]); v = np.array([1.0, 0.0])
    >>> loss, _ = negative_sampling_loss_forward(v, 0, U, np.array([1, 1]))
    >>> loss.round(6)   # 3 log(1 + e^-1): the repeated negative counts twice
    np.float64(0.939785)
    """
    check = Args()
    center_vec = check.floats("center_vec", center_vec, "D")
    outside_vectors = check.floats("outside_vectors", outside_vectors, "V D")
    outside_idx = _word_indices(check, "outside_idx", outside_idx, "")
    negative_idx = _word_indices(check, "negative_idx", negative_idx, "K")
    return _negative_sampling_loss(check, center_vec, outside_idx, outside_vectors,
                                   negative_idx)


@backward_of(negative_sampling_loss_forward)
def negative_sampling_loss_backward(dloss, cache):
    """Backward pass of `negative_sampling_loss_forward`.

    Parameters
    ----------
    dloss : float or 0-d array, upstream gradient of the loss
    cache : from `negative_sampling_loss_forward`

    Returns
    -------
    dcenter_vec : ndarray of shape (D,)
    doutside_vectors : ndarray of shape (V, D); only the rows of o and the negatives are
        non-zero, and a row gets one term per occurrence
    """
    return _negative_sampling_grads(dloss, cache)


@differentiable("center_vectors", "outside_vectors")
def skipgram_forward(center_idx, outside_idx, center_vectors, outside_vectors,
                     negative_idx=None):
    """The skip-gram loss of one window: a word2vec loss summed over its outside words.

    Parameters
    ----------
    center_idx : int or integer 0-d array, the center word c of the window
    outside_idx : integer ndarray of shape (M,)
        The M outside words of the window (2m for a window of m words each side; fewer
        at the edges of a text). A word may occur more than once.
    center_vectors : ndarray of shape (V, D), float32 or float64, one v_w per word
    outside_vectors : ndarray of shape (V, D), one u_w per word
    negative_idx : integer ndarray of shape (M, K), optional
        None selects the naive-softmax loss. Given, it selects the negative-sampling loss,
        with row j holding the K negatives for outside word j.

    Returns
    -------
    loss : NumPy scalar of the vectors' dtype, the sum over the M outside words
    cache : for `skipgram_backward`
    """
    check = Args()
    center_vectors = check.floats("center_vectors", center_vectors, "V D")
    outside_vectors = check.floats("outside_vectors", outside_vectors, "V D")
    center_idx = _word_indices(check, "center_idx", center_idx, "")
    outside_idx = _word_indices(check, "outside_idx", outside_idx, "M")
    if negative_idx is not None:
        negative_idx = _word_indices(check, "negative_idx", negative_idx, "M K")
    center_vec = center_vectors[center_idx]
    loss, caches = 0.0, []
    for j, word in enumerate(outside_idx):
        # center_vec is a row of center_vectors, the argument the messages name.
        if negative_idx is None:
            word_loss, cache = _naive_softmax_loss(check, center_vec, word, outside_vectors,
                                                   "center_vectors")
        else:
            word_loss, cache = _negative_sampling_loss(check, center_vec, word,
                                                       outside_vectors, negative_idx[j],
                                                       "center_vectors")
        loss += word_loss
        caches.append(cache)
    backward = _negative_sampling_grads if negative_idx is not None \
        else _naive_softmax_grads
    return center_vectors.dtype.type(loss), (center_idx, center_vectors.shape,
                                             outside_vectors, backward, caches)


@backward_of(skipgram_forward)
def skipgram_backward(dloss, cache):
    """Backward pass of `skipgram_forward`.

    Parameters
    ----------
    dloss : float or 0-d array, upstream gradient of the loss
    cache : from `skipgram_forward`

    Returns
    -------
    dcenter_vectors : ndarray of shape (V, D); only row c is non-zero
    doutside_vectors : ndarray of shape (V, D)
    """
    center_idx, shape, outside_vectors, backward, caches = cache
    dcenter_vectors = np.zeros(shape, dtype=outside_vectors.dtype)
    doutside_vectors = np.zeros_like(outside_vectors)
    for word_cache in caches:
        dcenter, doutside = backward(dloss, word_cache)
        dcenter_vectors[center_idx] += dcenter
        doutside_vectors += doutside
    return dcenter_vectors, doutside_vectors


def _naive_softmax_loss(check, center_vec, outside_idx, outside_vectors,
                        center_name="center_vec"):
    """`naive_softmax_loss_forward` on validated arguments; errors name `check`'s function
    and call the center vector `center_name`."""
    scores = _scores(check, outside_vectors, center_vec, center_name)
    loss = -log_softmax(scores)[outside_idx]
    return center_vec.dtype.type(loss), (center_vec, outside_idx, outside_vectors, scores)


def _negative_sampling_loss(check, center_vec, outside_idx, outside_vectors, negative_idx,
                            center_name="center_vec"):
    """`negative_sampling_loss_forward` on validated arguments; errors name `check`'s
    function and call the center vector `center_name`."""
    # Row 0 is the outside word with sign +1, rows 1..K the negatives with sign -1:
    # the loss is sum_j softplus(-sign_j u_j . v_c).
    words = np.concatenate([[outside_idx], negative_idx])
    signs = np.ones(words.shape, dtype=center_vec.dtype)
    signs[1:] = -1
    margins = signs * _scores(check, outside_vectors, center_vec, center_name, words)
    loss = np.sum(softplus(-margins))
    return center_vec.dtype.type(loss), (center_vec, outside_vectors, words, signs, margins)


def _naive_softmax_grads(dloss, cache):
    """(dcenter_vec, doutside_vectors) of `_naive_softmax_loss`'s cache, for a checked
    dloss."""
    center_vec, outside_idx, outside_vectors, scores = cache
    dscores = softmax(scores)
    dscores[outside_idx] -= 1
    dscores *= dloss
    return outside_vectors.T @ dscores, np.outer(dscores, center_vec)


def _negative_sampling_grads(dloss, cache):
    """(dcenter_vec, doutside_vectors) of `_negative_sampling_loss`'s cache, for a checked
    dloss."""
    center_vec, outside_vectors, words, signs, margins = cache
    # d softplus(-m)/dm = -sigmoid(-m) = -(1 - sigmoid(m)); m_j = sign_j u_j . v_c.
    dscores = -signs * sigmoid(-margins) * dloss
    dcenter = dscores @ outside_vectors[words]
    doutside = np.zeros_like(outside_vectors)
    np.add.at(doutside, words, np.outer(dscores, center_vec))
    return dcenter, doutside


def _scores(check, outside_vectors, center_vec, center_name, words=None):
    """outside_vectors[words] @ center_vec (all rows when `words` is None), refusing NaN
    and infinite scores: from a NaN or infinite input, named with its position (the
    center vector as `center_name`), or from a product that overflows."""
    used = outside_vectors if words is None else outside_vectors[words]
    with np.errstate(over="ignore", invalid="ignore"):
        scores = used @ center_vec
    if not np.isfinite(scores).all():
        check.finite(center_name, center_vec)
        check.finite("outside_vectors", outside_vectors)
        position = int(np.flatnonzero(~np.isfinite(scores))[0])
        word = position if words is None else int(words[position])
        raise check.error(f"the score outside_vectors[{word}] . {center_name} of word "
                          f"{word} overflows {center_vec.dtype}: the vectors are too large")
    return scores


def _word_indices(check, name, value, spec):
    """Word indices in [0, V): an int, or an integer array of shape `spec` ("" for 0-d)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.generic)):
        value = np.asarray(value)
    array = check.ints(name, value, spec or None, high=check.dim("V"), high_name="V")
    if not spec and array.ndim != 0:
        raise check.error(f"{name} must be a single word index; got {name}.shape = "
                          f"{array.shape}")
    return int(array) if not spec else array


# -- registration -------------------------------------------------------------------------

def _vectors(rng, dtype):
    v, d = dims(rng, (2, 5), (1, 3))
    return v, d, normal(rng, (v, d), dtype), normal(rng, (v, d), dtype)


@register(naive_softmax_loss_forward, naive_softmax_loss_backward)
def naive_softmax_loss_example(rng, dtype):
    v, d, center_vectors, outside_vectors = _vectors(rng, dtype)
    return center_vectors[0], int(rng.integers(v)), outside_vectors


@register(negative_sampling_loss_forward, negative_sampling_loss_backward)
def negative_sampling_loss_example(rng, dtype):
    v, d, center_vectors, outside_vectors = _vectors(rng, dtype)
    negatives = rng.integers(v, size=int(rng.integers(1, 5)))
    return center_vectors[0], int(rng.integers(v)), outside_vectors, negatives


@register(skipgram_forward, skipgram_backward)
def skipgram_example(rng, dtype):
    v, d, center_vectors, outside_vectors = _vectors(rng, dtype)
    m = int(rng.integers(1, 5))
    negatives = rng.integers(v, size=(m, 3)) if rng.random() < 0.5 else None
    return Example((int(rng.integers(v)), rng.integers(v, size=m), center_vectors,
                    outside_vectors), {"negative_idx": negatives})
