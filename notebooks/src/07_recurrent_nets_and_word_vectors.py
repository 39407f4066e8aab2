# %% [markdown]
# # 7. Recurrent networks and word vectors
#
# Two pieces of the NLP half of the course, both layer pairs and both checked:
#
# 1. **word2vec** (skip-gram): every word gets a *center* vector $v_w$ and an *outside*
#    vector $u_w$, trained so that $u_o^T v_c$ is large for words $o$ that occur near $c$.
#    You write the naive-softmax loss and its gradients, then train vectors on a toy
#    corpus.
# 2. **Recurrent networks**: backpropagation through time multiplies one Jacobian per
#    step, so gradients from far back shrink or grow geometrically. You measure it, for a
#    vanilla RNN and for an LSTM.

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np

from checks import assert_gradients, check_layer, jacobian
from layers import (lstm_backward, lstm_forward, naive_softmax_loss_backward,
                    naive_softmax_loss_forward, rnn_backward, rnn_forward, skipgram_backward,
                    skipgram_forward)

rng = np.random.default_rng(0)

# %% [markdown]
# ## The naive-softmax loss
#
# For a center word $c$ and one word $o$ observed in its window, with $U$ the matrix of
# outside vectors (one row per word of the vocabulary),
#
# $$\hat y = \mathrm{softmax}(U v_c), \qquad J = -\log \hat y_o,$$
#
# $$\frac{\partial J}{\partial v_c} = U^T(\hat y - y), \qquad
# \frac{\partial J}{\partial U} = (\hat y - y)\, v_c^T,$$
#
# with $y$ the one-hot vector of $o$: the familiar "softmax minus one-hot" of
# cross-entropy, then the two factors of the product $U v_c$.
#
# **Exercise 1.** Write the pair. Compute $\log \hat y_o$ with the log-sum-exp trick
# (subtract the largest score before `exp`), never as `np.log(softmax)`.

# %% exercise="naive_softmax" points=4
def my_naive_softmax_loss_forward(center_vec, outside_idx, outside_vectors):
    """J = -log softmax(U v_c)[o].

    Parameters
    ----------
    center_vec : ndarray of shape (D,)
    outside_idx : int, the observed outside word o (no gradient)
    outside_vectors : ndarray of shape (V, D), U

    Returns
    -------
    loss : float
    cache : for my_naive_softmax_loss_backward
    """
    ### BEGIN SOLUTION: J = log sum_w exp(score_w) - score_o, after subtracting the max score
    scores = outside_vectors @ center_vec
    shifted = scores - scores.max()
    loss = np.log(np.sum(np.exp(shifted))) - shifted[outside_idx]
    cache = (center_vec, outside_idx, outside_vectors, shifted)
    ### END SOLUTION
    return loss, cache


def my_naive_softmax_loss_backward(dloss, cache):
    """(dcenter_vec, doutside_vectors), scaled by the upstream dloss."""
    ### BEGIN SOLUTION: yhat - y (one-hot of o), then U^T (yhat - y) and outer(yhat - y, v_c)
    center_vec, outside_idx, outside_vectors, shifted = cache
    error = np.exp(shifted) / np.sum(np.exp(shifted))
    error[outside_idx] -= 1
    error = dloss * error
    dcenter = outside_vectors.T @ error
    doutside = np.outer(error, center_vec)
    ### END SOLUTION
    return dcenter, doutside


# %% check="naive_softmax"
V, D = 7, 4
v_c = rng.standard_normal(D)
U = rng.standard_normal((V, D))

# A value by hand: with v_c = 0 every word is equally likely, so J = log V.
assert np.isclose(my_naive_softmax_loss_forward(np.zeros(D), 2, U)[0], np.log(V),
                  rtol=1e-14), "with v_c = 0 the loss is log V"
# No overflow for huge scores (the library's value is the reference: equal to rounding).
big = my_naive_softmax_loss_forward(v_c * 1e3, 3, U)[0]
assert np.isfinite(big), "the loss overflows for large scores: subtract the largest first"
assert np.isclose(big, naive_softmax_loss_forward(v_c * 1e3, 3, U)[0], rtol=1e-12), \
    "the loss is wrong for large scores"

mine, library = (my_naive_softmax_loss_forward(v_c, 3, U),
                 naive_softmax_loss_forward(v_c, 3, U))
assert np.isclose(mine[0], library[0], rtol=1e-12), "the loss differs from the library's"

report = check_layer(my_naive_softmax_loss_forward, my_naive_softmax_loss_backward, v_c, 3, U)
print(report)
# Max relative error about 1e-10 (threshold 1e-6); outside_idx is an integer: no gradient.
report.raise_if_failed()
for name, a, b in zip(("dcenter_vec", "doutside_vectors"),
                      my_naive_softmax_loss_backward(0.7, mine[1]),
                      naive_softmax_loss_backward(0.7, library[1])):
    assert np.allclose(a, b, rtol=1e-12, atol=1e-14), f"{name} differs from the library's"
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for V_, D_ in rng.integers(2, 9, size=(3, 2)):
        center, outside = rng.standard_normal(D_), rng.standard_normal((V_, D_))
        o = int(rng.integers(V_))
        scores = outside @ center
        expected = np.log(np.sum(np.exp(scores - scores.max()))) + scores.max() - scores[o]
        assert np.isclose(my_naive_softmax_loss_forward(center, o, outside)[0], expected,
                          rtol=1e-12), "my_naive_softmax_loss_forward is wrong for other inputs"
        assert_gradients(my_naive_softmax_loss_forward, my_naive_softmax_loss_backward,
                         center, o, outside, seed=int(rng.integers(2**31)))

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# ## Skip-gram on a toy corpus
#
# The skip-gram loss of one window sums the word loss over the words around its center
# (`skipgram_forward`, here with the naive softmax). A corpus of 27 sentences "the *cat*
# *sat* on the *mat*" with three animals, three verbs and three places: words of one role
# share their contexts, so their vectors should end up close.

# %%
animals, verbs, places = ["cat", "dog", "bird"], ["sat", "slept", "lay"], ["mat", "rug", "sofa"]
sentences = [f"the {a} {v} on the {p}".split() for a in animals for v in verbs for p in places]
vocabulary = sorted({word for sentence in sentences for word in sentence})
index = {word: i for i, word in enumerate(vocabulary)}
context = 2                                          # words on each side of the center

windows = []
for sentence in sentences:
    ids = [index[word] for word in sentence]
    for c in range(len(ids)):
        around = range(max(0, c - context), min(len(ids), c + context + 1))
        windows.append((ids[c], np.array([ids[j] for j in around if j != c])))

center_vectors = rng.standard_normal((len(vocabulary), 8)) * 0.1
outside_vectors = rng.standard_normal((len(vocabulary), 8)) * 0.1
epoch_losses = []
for epoch in range(30):
    total = 0.0
    for k in rng.permutation(len(windows)):
        center, outside = windows[k]
        loss, cache = skipgram_forward(center, outside, center_vectors, outside_vectors)
        dcenter, doutside = skipgram_backward(1.0, cache)
        center_vectors = center_vectors - 0.05 * dcenter
        outside_vectors = outside_vectors - 0.05 * doutside
        total += loss
    epoch_losses.append(total / len(windows))


def cosine(a, b):
    va, vb = center_vectors[index[a]], center_vectors[index[b]]
    return va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb))


print(f"loss per window: {epoch_losses[0]:.2f} -> {epoch_losses[-1]:.2f}")
for a, b in [("cat", "dog"), ("mat", "rug"), ("sat", "slept"), ("cat", "mat"), ("sat", "rug")]:
    print(f"cos({a}, {b}) = {cosine(a, b):+.2f}")
assert epoch_losses[-1] < 0.8 * epoch_losses[0]
# Same role: cosine about 0.99; different roles: about 0.6.
assert min(cosine("cat", "dog"), cosine("mat", "rug"), cosine("sat", "slept")) > \
    max(cosine("cat", "mat"), cosine("sat", "rug")) + 0.2

# %%
centred = center_vectors - center_vectors.mean(axis=0)
_, _, axes_2d = np.linalg.svd(centred, full_matrices=False)
points = centred @ axes_2d[:2].T
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(points[:, 0], points[:, 1], s=10)
placed = []
for word, point in zip(vocabulary, points):
    # Words of one role land on one spot: stack their labels instead of overprinting.
    below = sum(np.linalg.norm(point - other) < 0.3 for other in placed)
    ax.annotate(word, point, xytext=(6, -12 * below), textcoords="offset points")
    placed.append(point)
ax.margins(0.25)
ax.set_title("center vectors, first two principal components");

# %% [markdown]
# ## Backpropagation through time
#
# A vanilla RNN computes $h_t = \tanh(W_x^T x_t + W_h^T h_{t-1} + b)$. The gradient of a loss
# at the last step $T$ with respect to an earlier input $x_t$ passes through
# $\partial h_{s}/\partial h_{s-1} = \mathrm{diag}(1 - h_s^2)\, W_h^T$ for every step in
# between: a product of $T - t$ matrices. If their norms are below 1 it vanishes
# geometrically; above 1 it explodes.
#
# First, the layers are right: the checker on a short sequence.

# %%
N, T, D, H = 2, 5, 3, 4
x = rng.standard_normal((N, T, D))
h0 = rng.standard_normal((N, H))
rnn_report = check_layer(rnn_forward, rnn_backward, x, h0, rng.standard_normal((D, H)) * 0.5,
                         rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H))
lstm_report = check_layer(lstm_forward, lstm_backward, x, h0,
                          rng.standard_normal((D, 4 * H)) * 0.5,
                          rng.standard_normal((H, 4 * H)) * 0.5, rng.standard_normal(4 * H))
print(rnn_report, lstm_report, sep="\n\n")
# Every gradient (x, h0 and the weights) within about 1e-8 of central differences.
assert rnn_report.ok and lstm_report.ok

# %% [markdown]
# **Exercise 2.** Measure how much of a gradient at the last step reaches each input:
# run the forward pass, feed the backward pass an upstream gradient that is `u` at the
# last step and zero at every other, and return $\lVert \partial L / \partial x_t \rVert$
# for $t = 0, \dots, T-1$ (the norm over the batch and the features).

# %% exercise="bptt_norms" points=3
def input_gradient_norms(forward, backward, x, h0, Wx, Wh, b, u):
    """||dL/dx_t|| for every t, where L = sum(u * h[:, -1]).

    Parameters
    ----------
    forward, backward : rnn_forward/rnn_backward or lstm_forward/lstm_backward
    x : ndarray of shape (N, T, D); h0 : (N, H); Wx, Wh, b : the layer's weights
    u : ndarray of shape (N, H), the upstream gradient of the last hidden state

    Returns
    -------
    ndarray of shape (T,)
    """
    ### BEGIN SOLUTION: upstream zeros except u at the last step; dx is what backward returns first
    h, cache = forward(x, h0, Wx, Wh, b)
    dh = np.zeros_like(h)
    dh[:, -1] = u
    dx = backward(dh, cache)[0]
    norms = np.sqrt(np.sum(dx ** 2, axis=(0, 2)))
    ### END SOLUTION
    return norms


# %% check="bptt_norms"
N, T, D, H = 1, 50, 4, 16
x = rng.standard_normal((N, T, D)) * 0.1       # small inputs: tanh stays near-linear
h0 = np.zeros((N, H))
u = rng.standard_normal((N, H))
Wx = rng.standard_normal((D, H)) * 0.1
orthogonal, _ = np.linalg.qr(rng.standard_normal((H, H)))   # every singular value 1

rnn_norms = {scale: input_gradient_norms(rnn_forward, rnn_backward, x, h0, Wx,
                                         scale * orthogonal, np.zeros(H), u)
             for scale in (0.5, 0.9, 1.0, 1.2)}

Wx4, Wh4 = rng.standard_normal((D, 4 * H)) * 0.1, rng.standard_normal((H, 4 * H)) * 0.1
lstm_norms = {}
for forget_bias in (0.0, 3.0):
    b4 = np.zeros(4 * H)
    b4[H:2 * H] = forget_bias                 # CS231n's gate order (i, f, o, g)
    lstm_norms[forget_bias] = input_gradient_norms(lstm_forward, lstm_backward, x, h0, Wx4,
                                                   Wh4, b4, u)

assert all(np.shape(norms) == (T,) for norms in [*rnn_norms.values(), *lstm_norms.values()]), \
    "input_gradient_norms returns one norm per time step"
# Spectral norm 0.5: the gradient 49 steps back is about 0.5^49 ~ 1e-15 of the last one.
assert rnn_norms[0.5][0] < 1e-10 * rnn_norms[0.5][-1], "the RNN's gradient should vanish"
# Spectral norm 1.2 with near-linear tanh: it grows going back (about 50x here).
assert rnn_norms[1.2][0] > 10 * rnn_norms[1.2][-1], "the RNN's gradient should explode"
# The LSTM's cell state carries the gradient when the forget gate is open (f ~ 0.95),
# and loses it as fast as a contracting RNN when f ~ 0.5.
assert lstm_norms[3.0][0] > 1e5 * lstm_norms[0.0][0], "the open forget gate should carry it"
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for forward, backward, gates in ((rnn_forward, rnn_backward, 1),
                                     (lstm_forward, lstm_backward, 4)):
        N_, T_, D_, H_ = rng.integers(1, 5, size=4)
        args = (rng.standard_normal((N_, T_, D_)), rng.standard_normal((N_, H_)),
                rng.standard_normal((D_, gates * H_)), rng.standard_normal((H_, gates * H_)),
                rng.standard_normal(gates * H_))
        u_ = rng.standard_normal((N_, H_))

        def loss(v, forward=forward, rest=args[1:], u=u_):
            return np.sum(u * forward(v, *rest)[0][:, -1])

        dx = jacobian(loss, args[0])
        expected = np.sqrt(np.sum(dx.reshape(N_, T_, D_) ** 2, axis=(0, 2)))
        got = input_gradient_norms(forward, backward, *args, u_)
        assert np.shape(got) == (T_,) and np.allclose(got, expected, rtol=1e-6,
                                                      atol=1e-9), \
            f"input_gradient_norms is wrong for {forward.__name__} at other sizes"

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %%
fig, ax = plt.subplots(figsize=(8, 4))
steps_back = T - 1 - np.arange(T)
for scale, norms in rnn_norms.items():
    ax.plot(steps_back, norms, label=f"RNN, W_h = {scale} x orthogonal")
for forget_bias, norms in lstm_norms.items():
    ax.plot(steps_back, norms, "--", label=f"LSTM, forget-gate bias {forget_bias:g}")
ax.set(yscale="log", xlabel="steps back from the loss (T - 1 - t)",
       ylabel="||dL/dx_t||", title="gradient reaching each input")
ax.legend(fontsize=8);

# %% [markdown] exercise="forget_gate_question" points=2
# **Question.** Why does a forget-gate bias of 3 let the LSTM's gradient survive 50 steps,
# when a vanilla RNN with $W_h = 0.9 \times$ orthogonal already loses most of it?
#
# ### BEGIN SOLUTION
# The LSTM's cell state is updated additively, $c_t = f_t \circ c_{t-1} + i_t \circ g_t$,
# so $\partial c_t / \partial c_{t-1} = \mathrm{diag}(f_t)$: no weight matrix and no
# squashing derivative on that path. With the forget-gate bias at 3, $f_t \approx
# \sigma(3) \approx 0.95$, and the gradient shrinks by only that factor per step (and the
# gate can learn to be 1 where memory matters). The vanilla RNN multiplies by
# $\mathrm{diag}(1 - h_t^2) W_h^T$ at every step, whose norm is at most 0.9 here, so the
# gradient 49 steps back is about $0.9^{49} \approx 0.006$ of the last one.
# ### END SOLUTION
