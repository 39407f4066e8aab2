"""word2vec's losses and skip-gram on a tiny vocabulary, and the word-window classifier."""

import math

import numpy as np
import pytest

from checks import assert_gradients
from layers import (naive_softmax_loss_backward, naive_softmax_loss_forward,
                    negative_sampling_loss_backward, negative_sampling_loss_forward,
                    skipgram_backward, skipgram_forward, window_classifier_backward,
                    window_classifier_forward)

# A vocabulary of three words with 2-d vectors, simple enough to score by hand:
# with v_c = (1, 0) the outside words score u . v_c = 1, 0 and -1.
CENTER = np.array([1.0, 0.0])
OUTSIDE = np.array([[1.0, 0.0],
                    [0.0, 1.0],
                    [-1.0, 0.0]])


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_naive_softmax_loss_by_hand():
    # -log softmax((1, 0, -1))[0] = -1 + log(e + 1 + 1/e)
    loss, cache = naive_softmax_loss_forward(CENTER, 0, OUTSIDE)
    assert loss == pytest.approx(-1 + math.log(math.e + 1 + 1 / math.e), rel=1e-15)
    dcenter, doutside = naive_softmax_loss_backward(1.0, cache)
    z = math.e + 1 + 1 / math.e
    yhat = np.array([math.e / z, 1 / z, 1 / math.e / z])
    # dv_c = U^T (yhat - y); dU = (yhat - y) v_c^T
    np.testing.assert_allclose(dcenter, OUTSIDE.T @ (yhat - [1, 0, 0]), rtol=1e-14)
    np.testing.assert_allclose(doutside[:, 0], yhat - [1, 0, 0], rtol=1e-14)
    np.testing.assert_array_equal(doutside[:, 1], 0)


def test_negative_sampling_loss_by_hand_counts_a_repeated_negative_twice():
    # o = 0 scores 1; the negative word 2, drawn twice, scores -1, so -u_2 . v_c = 1:
    # J = -log sigmoid(1) - 2 log sigmoid(1) = 3 log(1 + 1/e).
    loss, cache = negative_sampling_loss_forward(CENTER, 0, OUTSIDE, np.array([2, 2]))
    assert loss == pytest.approx(3 * math.log(1 + 1 / math.e), rel=1e-15)
    dcenter, doutside = negative_sampling_loss_backward(1.0, cache)
    s = 1 - sigmoid(1)   # the same factor for o and for each draw of the negative
    np.testing.assert_allclose(doutside[0], -s * CENTER, rtol=1e-15)
    np.testing.assert_allclose(doutside[2], 2 * s * CENTER, rtol=1e-15)
    np.testing.assert_array_equal(doutside[1], 0)
    np.testing.assert_allclose(dcenter, -s * OUTSIDE[0] + 2 * s * OUTSIDE[2], rtol=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_word2vec_gradients(seed):
    rng = np.random.default_rng(seed)
    center, outside = rng.standard_normal(3), rng.standard_normal((5, 3))
    o = int(rng.integers(5))
    assert_gradients(naive_softmax_loss_forward, naive_softmax_loss_backward, center, o,
                     outside)
    negatives = np.array([1, 3, 1, o])   # a repeat, and a negative equal to o
    assert_gradients(negative_sampling_loss_forward, negative_sampling_loss_backward,
                     center, o, outside, negatives)


@pytest.mark.parametrize("negatives", [None, np.array([[1, 1], [2, 0], [2, 2]])])
def test_skipgram_sums_the_loss_over_the_window(negatives):
    rng = np.random.default_rng(4)
    centers, outside = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    window = np.array([0, 2, 0])
    loss, cache = skipgram_forward(1, window, centers, outside, negative_idx=negatives)
    if negatives is None:
        expected = sum(naive_softmax_loss_forward(centers[1], o, outside)[0] for o in window)
    else:
        expected = sum(negative_sampling_loss_forward(centers[1], o, outside, k)[0]
                       for o, k in zip(window, negatives, strict=True))
    assert loss == pytest.approx(expected, rel=1e-14)
    dcenters, _ = skipgram_backward(1.0, cache)
    assert np.all(dcenters[[0, 2]] == 0)
    assert_gradients(skipgram_forward, skipgram_backward, 1, window, centers, outside,
                     negative_idx=negatives)


def test_word2vec_float32_stays_float32():
    center, outside = CENTER.astype(np.float32), OUTSIDE.astype(np.float32)
    loss, cache = negative_sampling_loss_forward(center, 0, outside, np.array([1, 2]))
    grads = negative_sampling_loss_backward(np.float32(1), cache)
    assert loss.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    loss, cache = skipgram_forward(1, np.array([0]), outside, outside)
    assert loss.dtype == np.float32
    assert all(g.dtype == np.float32 for g in skipgram_backward(1.0, cache))


def test_word2vec_rejects_bad_indices():
    with pytest.raises(ValueError, match=r"naive_softmax_loss_forward: outside_idx must "
                                         r"hold values in \[0, V=3\); got values from 3"):
        naive_softmax_loss_forward(CENTER, 3, OUTSIDE)
    with pytest.raises(ValueError, match=r"negative_sampling_loss_forward: negative_idx must "
                                         r"hold values in \[0, V=3\)"):
        negative_sampling_loss_forward(CENTER, 0, OUTSIDE, np.array([1, -1]))
    with pytest.raises(ValueError, match=r"skipgram_forward: negative_idx must have shape "
                                         r"\(M, K\) with M=2 from outside_idx"):
        skipgram_forward(0, np.array([1, 2]), OUTSIDE, OUTSIDE, negative_idx=np.zeros(
            (3, 2), dtype=int))
    with pytest.raises(ValueError, match=r"naive_softmax_loss_forward: outside_vectors must "
                                         r"have shape \(V, D\) with D=2 from center_vec"):
        naive_softmax_loss_forward(CENTER, 0, OUTSIDE.T)


# -- the word-window classifier -------------------------------------------------------------

def window_inputs(rng, n=3, w=3, v=6, d=2, hidden=4):
    windows = rng.integers(v, size=(n, w))
    return (windows, rng.standard_normal((v, d)), rng.standard_normal((w * d, hidden)) / 2,
            0.5 * rng.standard_normal(hidden), rng.standard_normal(hidden))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_window_classifier_follows_the_lecture(activation):
    rng = np.random.default_rng(5)
    windows, embeddings, W, b, u = window_inputs(rng, n=1)
    f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh}[activation]
    fprime = {"sigmoid": lambda z: f(z) * (1 - f(z)), "tanh": lambda z: 1 - np.tanh(z) ** 2}
    p, cache = window_classifier_forward(windows, embeddings, W, b, u, activation=activation)

    # The lecture's derivation, for one window: x the concatenated word vectors,
    # z = Wx + b, h = f(z), s = u^T h; delta = u o f'(z); ds/dW = delta^T x^T,
    # ds/db = delta, ds/dx = W^T delta (with this module's W the lecture's W^T).
    x = embeddings[windows[0]].reshape(-1)
    z = x @ W + b
    s = u @ f(z)
    assert p[0] == pytest.approx(1 / (1 + math.exp(-s)), rel=1e-14)
    delta = u * fprime[activation](z)
    dembeddings, dW, db, du = window_classifier_backward(np.ones(1), cache)
    dp_ds = p[0] * (1 - p[0])
    np.testing.assert_allclose(dW, dp_ds * np.outer(x, delta), rtol=1e-12)
    np.testing.assert_allclose(db, dp_ds * delta, rtol=1e-12)
    np.testing.assert_allclose(du, dp_ds * f(z), rtol=1e-12)
    dx = (dp_ds * W @ delta).reshape(len(windows[0]), -1)
    expected = np.zeros_like(embeddings)
    np.add.at(expected, windows[0], dx)
    np.testing.assert_allclose(dembeddings, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("n", [1, 4])
def test_window_classifier_gradients(n, activation):
    args = window_inputs(np.random.default_rng(n), n=n)
    assert_gradients(window_classifier_forward, window_classifier_backward, *args,
                     activation=activation)


def test_window_classifier_rejects_mismatched_sizes():
    windows, embeddings, W, b, u = window_inputs(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"window_classifier_forward: W must have shape "
                                         r"\(w\*d, H\) with w\*d=6 from windows and "
                                         r"embeddings; got W.shape = \(5, 4\)"):
        window_classifier_forward(windows, embeddings, W[:5], b, u)
    with pytest.raises(ValueError, match="window_classifier_forward: activation must be "
                                         "'sigmoid' or 'tanh'; got 'relu'"):
        window_classifier_forward(windows, embeddings, W, b, u, activation="relu")
