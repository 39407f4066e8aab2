# %% [markdown]
# # 3. Write a layer and check it
#
# Every layer in gatelab is a pair of functions, as in CS231n:
#
# - `name_forward(*args) -> (out, cache)`: computes the output and keeps in `cache` what
#   the backward pass needs;
# - `name_backward(dout, cache) -> grads`: given the upstream gradient `dout`
#   ($\partial L / \partial \text{out}$, of `out`'s shape), returns one gradient per
#   floating-point array argument, in argument order, each of its argument's shape (a bare
#   array when there is one).
#
# Layers are pure (they never modify their inputs) and keep the dtype (float32 in,
# float32 out). In this notebook you write two layers, check them with
# `checks.check_layer`, and then watch the checker catch and locate bugs planted in a
# backward function.

# %%
# %matplotlib inline
import os

import numpy as np

from checks import assert_gradients, check_layer
from layers import sigmoid_forward, softplus_forward

rng = np.random.default_rng(231)

# %% [markdown]
# ## Softplus
#
# $\mathrm{softplus}(x) = \log(1 + e^x)$ is a smooth ReLU, and its derivative is the
# sigmoid: $\frac{d}{dx}\log(1 + e^x) = \frac{e^x}{1 + e^x} = \sigma(x)$.
#
# Computed as written, `np.log(1 + np.exp(x))` overflows for $x \gtrsim 710$ and returns
# `inf`. `np.logaddexp(0, x)` computes $\log(e^0 + e^x)$ without overflow.
#
# **Exercise 1.** Implement the pair. `sigmoid_forward(x)[0]` from `layers` is a stable
# sigmoid you may use.

# %% exercise="softplus" points=3
def my_softplus_forward(x):
    """Softplus, elementwise.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray of x's shape and dtype, log(1 + exp(x))
    cache : what my_softplus_backward needs
    """
    ### BEGIN SOLUTION: np.logaddexp computes log(exp(a) + exp(b)) without overflow
    out = np.logaddexp(0, x)
    cache = x
    ### END SOLUTION
    return out, cache


def my_softplus_backward(dout, cache):
    """dx = dout * sigmoid(x), of x's shape and dtype."""
    ### BEGIN SOLUTION: softplus'(x) = sigmoid(x); layers.sigmoid_forward is stable
    x = cache
    dx = dout * sigmoid_forward(x)[0]
    ### END SOLUTION
    return dx


# %% check="softplus"
x = rng.standard_normal((4, 5)) * 3
out, cache = my_softplus_forward(x)
dx = my_softplus_backward(rng.standard_normal(x.shape), cache)
assert out.shape == dx.shape == x.shape, "out and dx have x's shape"

# The same values as the library's softplus (both are exact to rounding: < 1e-15).
assert np.allclose(out, softplus_forward(x)[0], rtol=1e-14, atol=0), \
    "my_softplus_forward differs from log(1 + exp(x))"
# No overflow at the extremes: softplus(1000) = 1000, softplus(-1000) = exp(-1000) ~ 0.
with np.errstate(over="raise", invalid="raise"):
    extremes, _ = my_softplus_forward(np.array([1000.0, -1000.0]))
assert np.allclose(extremes, [1000.0, 0.0], rtol=1e-15, atol=1e-300), \
    "my_softplus_forward is wrong at x = +-1000: does it overflow?"
# float32 stays float32.
assert my_softplus_forward(x.astype(np.float32))[0].dtype == np.float32, \
    "float32 in, float32 out"

report = check_layer(my_softplus_forward, my_softplus_backward, x)
print(report)
# A correct float64 layer: max relative error about 1e-10 (the check passes below 1e-6).
report.raise_if_failed()
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for shape in [(7,), (3, 4), (2, 3, 2)]:
        v = rng.standard_normal(shape) * 4
        assert np.allclose(my_softplus_forward(v)[0], np.logaddexp(0, v), rtol=1e-14,
                           atol=0), "my_softplus_forward is wrong for other inputs"
        assert_gradients(my_softplus_forward, my_softplus_backward, v,
                         seed=int(rng.integers(2**31)))
    v32 = rng.standard_normal(5).astype(np.float32)
    assert my_softplus_backward(v32, my_softplus_forward(v32)[1]).dtype == np.float32, \
        "my_softplus_backward: float32 in, float32 out"

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# `check_layer` draws a random upstream gradient $u$ (never all ones: an all-ones upstream
# gradient hides whole classes of bugs), and compares your `dx` with central differences
# $\frac{L(x + h e_j) - L(x - h e_j)}{2h}$ of $L = \sum u \circ \text{out}$, element by element,
# in float64. The relative error $|a - n| / (|a| + |n|)$ is about $10^{-10}$ for a right
# gradient and $10^{-2}$ or more for a wrong one.
#
# ## A bilinear layer
#
# A bilinear layer (PyTorch's `nn.Bilinear`) combines two inputs through a 3-d weight:
#
# $$\text{out}_{nk} = \sum_{i,j} x_{1,ni}\, W_{kij}\, x_{2,nj} + b_k,$$
#
# with $x_1$ of shape $(N, D_1)$, $x_2$ of shape $(N, D_2)$, $W$ of shape $(K, D_1, D_2)$ and
# $b$ of shape $(K,)$. Each output is a quadratic form $x_1^T W_k x_2$.
#
# **Exercise 2.** Implement the forward pass without loops: `np.einsum` writes such a sum
# directly, with one letter per index (`"ni,kij,nj->nk"` reads as the formula above).

# %% exercise="bilinear_forward" points=2
def bilinear_forward(x1, x2, W, b):
    """out[n, k] = x1[n] @ W[k] @ x2[n] + b[k].

    Parameters
    ----------
    x1 : ndarray of shape (N, D1)
    x2 : ndarray of shape (N, D2)
    W : ndarray of shape (K, D1, D2)
    b : ndarray of shape (K,)

    Returns
    -------
    out : ndarray of shape (N, K)
    cache : (x1, x2, W)
    """
    ### BEGIN SOLUTION: one np.einsum with a letter per index (n, k, i, j), then add b
    out = np.einsum("ni,kij,nj->nk", x1, W, x2) + b
    ### END SOLUTION
    return out, (x1, x2, W)


# %% check="bilinear_forward"
N, D1, D2, K = 4, 3, 5, 2
x1 = rng.standard_normal((N, D1))
x2 = rng.standard_normal((N, D2))
W = rng.standard_normal((K, D1, D2))
b = rng.standard_normal(K)

out, cache = bilinear_forward(x1, x2, W, b)
assert np.shape(out) == (N, K), "out has one row per example and one column per output"
# Each output is a quadratic form: exact to rounding (< 1e-12).
for n, k in [(0, 0), (1, 0), (3, 1)]:
    assert np.isclose(out[n, k], x1[n] @ W[k] @ x2[n] + b[k], rtol=1e-12), \
        f"out[{n}, {k}] is not x1[{n}] @ W[{k}] @ x2[{n}] + b[{k}]"
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for N_, D1_, D2_, K_ in rng.integers(1, 6, size=(3, 4)):
        a, c = rng.standard_normal((N_, D1_)), rng.standard_normal((N_, D2_))
        V, bias = rng.standard_normal((K_, D1_, D2_)), rng.standard_normal(K_)
        expected = np.array([[a[n] @ V[k] @ c[n] + bias[k] for k in range(K_)]
                             for n in range(N_)])
        got, _ = bilinear_forward(a, c, V, bias)
        assert np.shape(got) == (N_, K_) and np.allclose(got, expected, rtol=1e-12,
                                                         atol=1e-12), \
            "bilinear_forward is wrong for other sizes or values"

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS


# %% [markdown]
# **Exercise 3.** Implement the backward pass. Each gradient is the forward's sum with
# the upstream gradient $\text{dout}_{nk}$ put in and the argument's own index left free:
#
# $$\frac{\partial L}{\partial x_{1,ni}} = \sum_{k,j} \text{dout}_{nk} W_{kij} x_{2,nj},
# \qquad \frac{\partial L}{\partial W_{kij}} = \sum_n \text{dout}_{nk} x_{1,ni} x_{2,nj},$$
#
# and likewise for $x_2$ and $b$ (which gets the sum of `dout` over the batch).

# %% exercise="bilinear_backward" points=3
def bilinear_backward(dout, cache):
    """Gradients (dx1, dx2, dW, db), each of its argument's shape.

    Parameters
    ----------
    dout : ndarray of shape (N, K)
    cache : from bilinear_forward
    """
    x1, x2, W = cache
    ### BEGIN SOLUTION: one np.einsum per gradient; db sums dout over the batch axis
    dx1 = np.einsum("nk,kij,nj->ni", dout, W, x2)
    dx2 = np.einsum("nk,kij,ni->nj", dout, W, x1)
    dW = np.einsum("nk,ni,nj->kij", dout, x1, x2)
    db = dout.sum(axis=0)
    ### END SOLUTION
    return dx1, dx2, dW, db


# %% check="bilinear_backward"
grads = bilinear_backward(rng.standard_normal(out.shape), cache)
assert [np.shape(g) for g in grads] == [x1.shape, x2.shape, W.shape, b.shape], \
    "bilinear_backward returns (dx1, dx2, dW, db), each of its argument's shape"

report = check_layer(bilinear_forward, bilinear_backward, x1, x2, W, b)
print(report)
# Every argument passes; the max relative error is about 1e-9 or less (threshold 1e-6).
report.raise_if_failed()
assert [a.status for a in report.arguments] == ["pass"] * 4
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for N_, D1_, D2_, K_ in rng.integers(1, 6, size=(3, 4)):
        args = (rng.standard_normal((N_, D1_)), rng.standard_normal((N_, D2_)),
                rng.standard_normal((K_, D1_, D2_)), rng.standard_normal(K_))
        assert_gradients(bilinear_forward, bilinear_backward, *args,
                         seed=int(rng.integers(2**31)))

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# ## The checker finds planted bugs, and says where
#
# Here is a backward pass with two bugs of the kind everyone writes once. Before running
# the cell, try to find them by reading.

# %%
def bilinear_backward_planted(dout, cache):
    """bilinear_backward with two planted bugs (dx1 and dx2 are yours, from Exercise 3)."""
    x1, x2, W = cache
    dx1, dx2, _, _ = bilinear_backward(dout, cache)
    dW = np.zeros_like(W)
    for i in range(W.shape[1]):
        for j in range(W.shape[2] - 1):
            dW[:, i, j] = dout.T @ (x1[:, i] * x2[:, j])
    db = dout.mean(axis=0)
    return dx1, dx2, dW, db


report = check_layer(bilinear_forward, bilinear_backward_planted, x1, x2, W, b)
print(report)
report.plot()

# %% [markdown]
# The table names the wrong arguments, the worst elements with the analytic and numeric
# values side by side, and a hint where the pattern is plain. The heatmap shows the
# relative error of every element: for `W` (rows: $k$, columns: $(i, j)$ flattened) one
# column in every five is wrong.

# %%
failing = {a.name: a for a in report.arguments if a.status == "FAIL"}
assert not report.ok
assert set(failing) == {"W", "b"}          # x1 and x2 pass
# b: every element is 1/N = 0.25 of the right value: a mean where a sum belongs.
assert failing["b"].hint == "analytic = 0.25 x numeric"
# W: exactly the elements with the last j are wrong (relative error 1, analytic 0).
wrong_W = np.argwhere(failing["W"].errors > report.tolerance)
assert len(wrong_W) == K * D1 and set(wrong_W[:, 2]) == {D2 - 1}
assert "analytic is 0" in failing["W"].hint

# %% [markdown] exercise="planted_bugs" points=2
# **Question.** From the report alone (without reading the code again), what are the two
# bugs?
#
# ### BEGIN SOLUTION
# `b`'s gradient is exactly $1/N$ of the right one: `db` averages `dout` over the batch
# instead of summing it (the forward adds $b$ to every example, so every example's
# gradient adds up). `W`'s gradient is zero exactly at the elements whose last index is
# $D_2 - 1$: the loop over $j$ stops one short (`range(D2 - 1)`).
# ### END SOLUTION

# %% [markdown]
# ## Using the checker on your own layers
#
# In a test, `checks.assert_gradients(bilinear_forward, bilinear_backward, x1, x2, W, b)`
# raises with the same table as its message. To have `python -m checks my_layers.py`
# check a layer of yours on every run, register it with a builder of example inputs:
#
# ```python
# from checks import register
#
# @register(bilinear_forward, bilinear_backward)
# def bilinear_example(rng, dtype):
#     return tuple(rng.standard_normal(shape).astype(dtype)
#                  for shape in [(4, 3), (4, 5), (2, 3, 5), (2,)])
# ```
