"""The binary word-window classifier of CS224N's lecture 3, "Backprop and Neural Networks".

Is the center word of a window a named entity (say, a location)? For a window of w word
indices: x = the concatenation of their word vectors (w * d numbers), z = x @ W + b,
h = f(z), s = h . u, and p = sigmoid(s) is the probability of "yes".

The lecture writes z = Wx + b with column vectors; with a batch of row vectors here,
W is the lecture's W transposed, shape (w * d, H). Backward, from the upstream gradient
dp: ds = dp p (1 - p), and the lecture's local error signal at z,
delta = ds u * f'(z) (elementwise), which every earlier gradient reuses:
dW = x^T delta, db = sum of delta, dx = delta W^T (split back into the window's word
vectors and added into their rows of the embedding matrix), du = h^T ds.

It is a composite of the word embedding and affine pairs, with delta written out between
them as in the lecture.
"""

import numpy as np

from ._examples import dims, normal
from ._numerics import sigmoid
from .contract import Args, backward_of, differentiable
from .affine import affine_backward, affine_forward
from .embedding import word_embedding_backward, word_embedding_forward
from .registry import Example, register

__all__ = ["window_classifier_forward", "window_classifier_backward"]

# f and its derivative written in terms of f's output h, which backward keeps.
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda h: h * (1 - h)),
    "tanh": (np.tanh, lambda h: 1 - h * h),
}


@differentiable("embeddings", "W", "b", "u")
def window_classifier_forward(windows, embeddings, W, b, u, activation="sigmoid"):
    """Probability that the center word of each window is an entity.

    Parameters
    ----------
    windows : integer ndarray of shape (N, w)
        N windows of w word indices each, 0 <= index < V. No gradient.
    embeddings : ndarray of shape (V, d), float32 or float64, one word vector per word
    W : ndarray of shape (w * d, H), hidden layer weights (the lecture's W transposed)
    b : ndarray of shape (H,)
    u : ndarray of shape (H,), scoring vector
    activation : {"sigmoid", "tanh"}
        The hidden layer's f.

    Returns
    -------
    p : ndarray of shape (N,), sigmoid(f(x @ W + b) . u), each in (0, 1)
    cache : for `window_classifier_backward`
    """
    check = Args()
    embeddings = check.floats("embeddings", embeddings, "V d")
    windows = check.ints("windows", windows, "N w", high=check.dim("V"), high_name="V")
    check.bind("w*d", check.dim("w") * check.dim("d"), "windows and embeddings")
    W = check.floats("W", W, "w*d H")
    b = check.floats("b", b, "H")
    u = check.floats("u", u, "H")
    f = ACTIVATIONS[check.choice("activation", activation, tuple(ACTIVATIONS))][0]

    x, embedding_cache = word_embedding_forward(windows, embeddings)
    z, affine_cache = affine_forward(x, W, b)
    h = f(z)
    p = sigmoid(h @ u)
    return p, (embedding_cache, affine_cache, h, u, p, activation)


@backward_of(window_classifier_forward)
def window_classifier_backward(dp, cache):
    """Backward pass of `window_classifier_forward`.

    Parameters
    ----------
    dp : ndarray of shape (N,), upstream gradient of p
    cache : from `window_classifier_forward`

    Returns
    -------
    dembeddings : ndarray of shape (V, d)
    dW : ndarray of shape (w * d, H)
    db : ndarray of shape (H,)
    du : ndarray of shape (H,)
    """
    embedding_cache, affine_cache, h, u, p, activation = cache
    ds = dp * p * (1 - p)
    delta = ds[:, None] * u * ACTIVATIONS[activation][1](h)
    dx, dW, db = affine_backward(delta, affine_cache)
    return word_embedding_backward(dx, embedding_cache), dW, db, h.T @ ds


@register(window_classifier_forward, window_classifier_backward)
def window_classifier_example(rng, dtype):
    n, w, v, d, hidden = dims(rng, (1, 3), (1, 3), (2, 5), (1, 3), (1, 3))
    windows = rng.integers(v, size=(n, w))
    embeddings = normal(rng, (v, d), dtype)
    W = normal(rng, (w * d, hidden), dtype, scale=(w * d) ** -0.5)
    b = normal(rng, (hidden,), dtype, scale=0.5)
    u = normal(rng, (hidden,), dtype)
    activation = "sigmoid" if rng.random() < 0.5 else "tanh"
    return Example((windows, embeddings, W, b, u), {"activation": activation})
