# %% [markdown]
# # 2. Jacobians and the shape convention
#
# For a function $f: \mathbb{R}^n \to \mathbb{R}^m$ the Jacobian is the $m \times n$ matrix
# $\left(\frac{\partial f}{\partial x}\right)_{ij} = \frac{\partial f_i}{\partial x_j}$, and
# the chain rule for vectors multiplies Jacobians. In this notebook you will
#
# 1. look at the Jacobians the lecture names: of an elementwise activation (diagonal), of
#    $Wx + b$ (that is $W$, and $I$ for $b$) and of $u^T h$ (that is $h^T$);
# 2. see the same gradient in *Jacobian form* (a $1 \times nm$ row for a matrix $W$) and in
#    the *shape convention* (the shape of $W$), which is what gatelab's backward functions
#    return;
# 3. compute the *local error signal* $\delta$ of the word-window classifier and get every
#    gradient from it in one pass.
#
# Two tools of `checks` do the work. `jacobian(fn, x)` differentiates any function
# numerically (central differences, one column per element of `x`).
# `analytic_jacobian(forward, backward, *args, wrt=i)` reads the Jacobian off a layer's
# backward function: fed the basis vector $e_i$ as upstream gradient, backward returns
# row $i$ of the Jacobian.
#
# Exercises are marked **Exercise**; each is followed by a check cell that asserts.

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np

from checks import analytic_jacobian, jacobian
from layers import (add_backward, add_forward, affine_backward, affine_forward,
                    matmul_backward, matmul_forward, sigmoid_backward, sigmoid_forward)

rng = np.random.default_rng(0)


def heatmap(ax, matrix, title):
    """Draw a matrix with a diverging colour map centred on 0."""
    limit = np.abs(matrix).max() or 1.0
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(title)
    plt.colorbar(image, ax=ax, shrink=0.8)


# %% [markdown]
# ## An elementwise activation has a diagonal Jacobian
#
# $h_i = \sigma(z_i)$ depends on $z_i$ only, so $\partial h_i / \partial z_j = 0$ for
# $i \ne j$ and $\frac{\partial h}{\partial z} = \mathrm{diag}(\sigma'(z))$.
#
# **Exercise 1.** Write the diagonal you expect for any vector $z$, using
# $\sigma'(z) = \sigma(z)(1 - \sigma(z))$.

# %% exercise="sigmoid_diagonal" points=2
def sigmoid_jacobian_diagonal(z):
    """The diagonal of d sigmoid(z) / dz; z and the result of shape (n,)."""
    ### BEGIN SOLUTION: sigma'(z) = sigma(z) (1 - sigma(z)), elementwise
    s = 1 / (1 + np.exp(-z))
    return s * (1 - s)
    ### END SOLUTION


# %% check="sigmoid_diagonal"
z = rng.standard_normal(6)
expected_diagonal = sigmoid_jacobian_diagonal(z)
J_numeric = jacobian(lambda v: sigmoid_forward(v)[0], z)
J_backward = analytic_jacobian(sigmoid_forward, sigmoid_backward, z)

# Central differences agree with the exact derivative to about 1e-10 here.
assert J_numeric.shape == (6, 6)
assert np.shape(expected_diagonal) == (6,), "the diagonal has one entry per element of z"
assert np.allclose(np.diag(J_numeric), expected_diagonal, rtol=1e-8, atol=0), \
    "your diagonal differs from the numeric Jacobian's (see the heatmaps)"
assert np.allclose(J_numeric - np.diag(np.diag(J_numeric)), 0, atol=1e-12)
# The backward function gives the same matrix, exactly diagonal.
assert np.allclose(J_backward, np.diag(expected_diagonal), rtol=1e-12, atol=0)

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
heatmap(axes[0], J_numeric, "numeric dh/dz of sigmoid")
heatmap(axes[1], J_backward - J_numeric, "backward minus numeric")
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for n in rng.integers(1, 9, size=3):
        v = rng.standard_normal(n) * 3
        exact = np.diag(analytic_jacobian(sigmoid_forward, sigmoid_backward, v))
        assert np.allclose(sigmoid_jacobian_diagonal(v), exact, rtol=1e-12, atol=0), \
            "sigmoid_jacobian_diagonal(z) is wrong for other z"

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# Backward never builds this matrix: multiplying an upstream gradient by a diagonal matrix
# is an elementwise product, so `sigmoid_backward` computes `dout * s * (1 - s)`, $O(n)$
# instead of $O(n^2)$.
#
# ## The Jacobians of $Wx + b$ and of $u^T h$
#
# With $z = Wx + b$ for $W \in \mathbb{R}^{n \times m}$:
# $\frac{\partial z}{\partial x} = W$ and $\frac{\partial z}{\partial b} = I$.
# With $s = u^T h$: $\frac{\partial s}{\partial u} = h^T$, a $1 \times n$ row.
#
# `matmul_forward(W, x)` multiplies a matrix by a column vector as in the notes, and
# `add_forward` adds $b$; both are layer pairs, so `analytic_jacobian` reads their
# Jacobians off their backward functions.
#
# **Exercise 2.** Write the three Jacobians you expect, as arrays of the right shapes,
# for any sizes $n$ and $m$.

# %% exercise="linear_jacobians" points=2
def linear_jacobians(W, x, b, u, h):
    """(dz/dx, dz/db, ds/du) for z = W x + b and s = u^T h.

    Parameters
    ----------
    W : ndarray of shape (n, m); x : (m,); b, u, h : (n,)

    Returns
    -------
    J_x : (n, m); J_b : (n, n); J_u : (1, n)
    """
    ### BEGIN SOLUTION: dz/dx is n x m, dz/db is n x n, ds/du is 1 x n (a row)
    return W, np.eye(len(b)), h[None, :]
    ### END SOLUTION


# %% check="linear_jacobians"
n, m = 3, 4
W = rng.standard_normal((n, m))
x = rng.standard_normal(m)
b = rng.standard_normal(n)
u = rng.standard_normal(n)
h = rng.standard_normal(n)
J_x_expected, J_b_expected, J_u_expected = linear_jacobians(W, x, b, u, h)

Wx, _ = matmul_forward(W, x)
J_x = analytic_jacobian(matmul_forward, matmul_backward, W, x, wrt=1)
J_b = analytic_jacobian(add_forward, add_backward, Wx, b, wrt=1)
J_u = analytic_jacobian(matmul_forward, matmul_backward, u, h, wrt=0)

assert np.shape(J_x_expected) == (n, m), "dz/dx has one row per output, one column per input"
assert np.shape(J_b_expected) == (n, n), "dz/db has one row per output, one column per input"
assert np.shape(J_u_expected) == (1, n), "ds/du is a row: one output, n inputs"
# These layers are linear: backward gives them exactly (rel. error 0 up to rounding, < 1e-15).
assert np.allclose(J_x, J_x_expected, rtol=1e-15, atol=1e-15), "dz/dx is wrong"
assert np.allclose(J_b, J_b_expected, rtol=0, atol=0), "dz/db is wrong"
assert np.allclose(J_u, J_u_expected, rtol=1e-15, atol=1e-15), "ds/du is wrong"
# And central differences agree (about 1e-10 for a linear function).
assert np.allclose(jacobian(lambda v: W @ v + b, x), J_x_expected, rtol=1e-8, atol=1e-10)

fig, axes = plt.subplots(1, 3, figsize=(12, 3))
heatmap(axes[0], J_x, "dz/dx (= W)")
heatmap(axes[1], J_b, "dz/db (= I)")
heatmap(axes[2], J_u, "ds/du (= h^T)")
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for n_, m_ in rng.integers(1, 6, size=(3, 2)):
        W_, x_ = rng.standard_normal((n_, m_)), rng.standard_normal(m_)
        b_, u_, h_ = (rng.standard_normal(n_) for _ in range(3))
        got = linear_jacobians(W_, x_, b_, u_, h_)
        Wx_, _ = matmul_forward(W_, x_)
        exact = (analytic_jacobian(matmul_forward, matmul_backward, W_, x_, wrt=1),
                 analytic_jacobian(add_forward, add_backward, Wx_, b_, wrt=1),
                 analytic_jacobian(matmul_forward, matmul_backward, u_, h_, wrt=0))
        for name, mine, right in zip(("dz/dx", "dz/db", "ds/du"), got, exact):
            assert np.shape(mine) == right.shape and np.allclose(mine, right, rtol=1e-15,
                                                                 atol=1e-15), \
                f"linear_jacobians: {name} is wrong for other sizes or values"

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# ## Jacobian form vs shape convention
#
# Take the one-hidden-layer score of the lecture, $s = u^T \sigma(Wx + b)$. Its derivative
# with respect to $W \in \mathbb{R}^{n \times m}$ in **Jacobian form** is a
# $1 \times nm$ row: one output, $nm$ inputs. That form makes the chain rule mechanical
# (multiply the matrices), but SGD wants `W -= lr * dW` with `dW` of $W$'s shape: the
# **shape convention**. The advice of the notes: derive in Jacobian form, then reshape
# (and transpose where the shapes say so) at the end.
#
# `jacobian` flattens its input in row-major (C) order, so column $k$ of the row is
# $W$'s element `np.unravel_index(k, W.shape)`.
#
# `score_forward` below builds $s$ from the library's pairs and `score_backward` runs
# their backward functions in reverse order; `jacobian` differentiates the score
# numerically.
#
# **Exercise 3.** Write `to_shape_convention`, which turns a Jacobian-form row
# (`jacobian`'s result for a scalar function of an array) into the shape-convention
# gradient of that array, then use it on the two rows `J_W` and `J_bias`.

# %% exercise="shape_convention" points=2
def score_forward(x, W, b, u):
    """s = u^T sigmoid(W x + b), as a chain of library pairs; returns (s, caches)."""
    Wx, matmul_cache = matmul_forward(W, x)
    z, add_cache = add_forward(Wx, b)
    h, sigmoid_cache = sigmoid_forward(z)
    s, score_cache = matmul_forward(u, h)
    return s, (matmul_cache, add_cache, sigmoid_cache, score_cache)


def score_backward(ds, cache):
    """(dx, dW, db, du) in the shape convention: the pairs' backwards in reverse order."""
    matmul_cache, add_cache, sigmoid_cache, score_cache = cache
    du, dh = matmul_backward(ds, score_cache)
    dz = sigmoid_backward(dh, sigmoid_cache)
    dWx, db = add_backward(dz, add_cache)
    dW, dx = matmul_backward(dWx, matmul_cache)
    return dx, dW, db, du


def to_shape_convention(J_row, shape):
    """The gradient of shape `shape` whose Jacobian form is J_row, of shape (1, prod(shape))."""
    ### BEGIN SOLUTION: row-major reshape; no transpose is needed for a 1 x nm row
    return J_row.reshape(shape)
    ### END SOLUTION


J_W = jacobian(lambda V: score_forward(x, V, b, u)[0], W)      # Jacobian form: 1 x (n m)
J_bias = jacobian(lambda c: score_forward(x, W, c, u)[0], b)   # Jacobian form: 1 x n
print("Jacobian form:", J_W.shape, J_bias.shape)
dW, db = to_shape_convention(J_W, W.shape), to_shape_convention(J_bias, b.shape)
print("shape convention:", np.shape(dW), np.shape(db))

# %% check="shape_convention"
assert np.shape(dW) == W.shape and np.shape(db) == b.shape, \
    "a gradient in the shape convention has its argument's shape"
# The backward chain returns the shape convention directly; central differences agree
# with it to about 1e-10 relative (anything below 1e-7 is right).
_, dW_chain, db_chain, _ = score_backward(1.0, score_forward(x, W, b, u)[1])
assert np.allclose(dW, dW_chain, rtol=1e-7, atol=1e-10), \
    "dW differs from the backward chain's: which element of W is column k of J_W?"
assert np.allclose(db, db_chain, rtol=1e-7, atol=1e-10), "db differs from the backward chain's"
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for shape in [tuple(rng.integers(1, 5, size=k)) for k in (1, 2, 3)]:
        V = rng.standard_normal(shape)
        weights = rng.standard_normal(shape)
        J_row = jacobian(lambda a, w=weights: np.sum(w * np.sin(a)), V)   # 1 x size
        got = to_shape_convention(J_row, shape)
        assert np.shape(got) == shape and np.allclose(got, weights * np.cos(V), rtol=1e-7,
                                                      atol=1e-10), \
            f"to_shape_convention is wrong for an array of shape {shape}"

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# ### The library's weights are transposed, and its gradients follow them
#
# gatelab (like CS231n) stores a batch of examples as *rows*: `affine_forward(x, w, b)`
# computes `x @ w + b` for `x` of shape $(N, m)$ and `w` of shape $(m, n)$. So the notes'
# $W x + b$ for one example is `affine_forward(x[None, :], W.T, b)`, and the `dw` that
# `affine_backward` returns is in the shape convention *of its own weight* `w = W.T`:
# checking the dimensions tells where the transpose goes.
#
# **Exercise 4.** Predict `affine_backward`'s `dw` for the upstream gradient
# `ds_dz[None, :]` (the gradient of $s$ at $z$, which is also $ds/db$), from `dW`, the
# gradient of the notes' $W$ in the shape convention.

# %% exercise="affine_dw" points=1
def affine_dw(dW):
    """The gradient of affine_forward's w = W.T, from dW (the gradient of W, shape (n, m))."""
    ### BEGIN SOLUTION: w = W.T has shape (m, n): its gradient is the transpose of dW
    return dW.T
    ### END SOLUTION


# %% check="affine_dw"
ds_dz = db_chain
z_row, cache = affine_forward(x[None, :], W.T, b)
dx_row, dw, db_row = affine_backward(ds_dz[None, :], cache)
dw_expected = affine_dw(dW_chain)
assert dw.shape == (m, n)
assert np.shape(dw_expected) == dw.shape, "affine_dw returns an array of w's shape (m, n)"
# The same numbers as central differences (rel. error about 1e-10, below 1e-7 passes).
assert np.allclose(dw, dw_expected, rtol=1e-7, atol=1e-10), "affine_dw(dW) is not affine's dw"
assert np.allclose(db_row, db, rtol=1e-7, atol=1e-10)
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for n_, m_ in rng.integers(1, 6, size=(3, 2)):
        W_, x_ = rng.standard_normal((n_, m_)), rng.standard_normal(m_)
        b_, u_ = rng.standard_normal(n_), rng.standard_normal(n_)
        _, dW_, db_, _ = score_backward(1.0, score_forward(x_, W_, b_, u_)[1])
        _, affine_cache = affine_forward(x_[None, :], W_.T, b_)
        _, dw_, _ = affine_backward(db_[None, :], affine_cache)
        got = affine_dw(dW_)
        assert np.shape(got) == dw_.shape and np.allclose(got, dw_, rtol=1e-12,
                                                          atol=1e-15), \
            "affine_dw(dW) is wrong for other sizes"

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# ## The local error signal $\delta$ of the word-window classifier
#
# The named-entity classifier of the lecture decides whether the centre word of a window
# is a location: "museums in **Paris** are amazing". $x$ is the concatenation of the five
# word vectors of the window, then
#
# $$z = Wx + b, \qquad h = f(z), \qquad s = u^T h,$$
#
# followed by a logistic output on $s$. The chain rule gives every gradient through one
# shared piece, the local error signal at $z$:
#
# $$\delta = \frac{\partial s}{\partial h}\frac{\partial h}{\partial z} = u^T \circ f'(z),
# \qquad \frac{\partial s}{\partial W} = \delta^T x^T,\quad
# \frac{\partial s}{\partial b} = \delta^T,\quad \frac{\partial s}{\partial x} = W^T\delta^T.$$
#
# (Written as vectors: $\delta = u \circ f'(z)$, $dW = \delta x^T$, $db = \delta$,
# $dx = W^T \delta$.) Computing $\delta$ once and reusing it is what makes backprop
# efficient: one backward pass gives all the gradients.

# %%
vocabulary = ["museums", "in", "Paris", "are", "amazing"]
word_dim, hidden_dim = 4, 8
word_vectors = {word: rng.standard_normal(word_dim) for word in vocabulary}
x_window = np.concatenate([word_vectors[word] for word in vocabulary])   # (20,)
W_window = rng.standard_normal((hidden_dim, x_window.size)) * 0.5
b_window = rng.standard_normal(hidden_dim) * 0.1
u_window = rng.standard_normal(hidden_dim)

# The same network as score_forward above, now at the window's sizes.
s_window, window_cache = score_forward(x_window, W_window, b_window, u_window)
print(f"score s = {float(s_window):.6f}")

# %% [markdown]
# **Exercise 5.** Compute $\delta$ and, from it, the gradients of $s$ with respect to $W$,
# $b$ and $x$ (shape convention), for $f = \sigma$. Use only NumPy: the point is to see
# that all three reuse $\delta$.

# %% exercise="window_delta" points=3
def window_gradients(x, W, b, u):
    """(delta, dW, db, dx) of s = u^T sigmoid(W x + b).

    Parameters
    ----------
    x : ndarray of shape (m,); W : (n, m); b, u : (n,)

    Returns
    -------
    delta : (n,); dW : (n, m); db : (n,); dx : (m,)
    """
    z = W @ x + b
    ### BEGIN SOLUTION: delta = u * f'(z), f'(z) = f(z) (1 - f(z)); then reuse delta three times
    h = 1 / (1 + np.exp(-z))
    delta = u * h * (1 - h)
    dW = np.outer(delta, x)
    db = delta
    dx = W.T @ delta
    ### END SOLUTION
    return delta, dW, db, dx


delta, dW_window, db_window, dx_window = window_gradients(x_window, W_window, b_window,
                                                          u_window)

# %% check="window_delta"
dx_chain, dW_chain, db_chain, du_chain = score_backward(1.0, window_cache)
assert np.shape(delta) == (hidden_dim,), "delta has one entry per hidden unit"
assert np.shape(dW_window) == W_window.shape and np.shape(dx_window) == x_window.shape, \
    "each gradient has its argument's shape"
# The library's chain of backward functions: agreement to rounding (< 1e-12).
assert np.allclose(dW_window, dW_chain, rtol=1e-12, atol=1e-15), "dW differs from backprop's"
assert np.allclose(db_window, db_chain, rtol=1e-12, atol=1e-15), "db differs from backprop's"
assert np.allclose(dx_window, dx_chain, rtol=1e-12, atol=1e-15), "dx differs from backprop's"
# Central differences of the score itself (rel. error about 1e-10; 1e-7 passes).
dx_numeric = jacobian(lambda v: score_forward(v, W_window, b_window, u_window)[0],
                      x_window)[0]
assert np.allclose(dx_window, dx_numeric, rtol=1e-7, atol=1e-10)

fig, axes = plt.subplots(1, 2, figsize=(12, 3), gridspec_kw={"width_ratios": [1, 4]})
heatmap(axes[0], delta[:, None], "delta (8 x 1)")
axes[0].set_xticks([])
heatmap(axes[1], dW_window, "ds/dW = delta x^T: rank one")
for k in range(1, len(vocabulary)):
    axes[1].axvline(k * word_dim - 0.5, color="black", linewidth=0.5)
axes[1].set_xticks([k * word_dim + 1.5 for k in range(len(vocabulary))], vocabulary);
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for n_, m_ in rng.integers(1, 9, size=(3, 2)):
        x_, W_ = rng.standard_normal(m_), rng.standard_normal((n_, m_))
        b_, u_ = rng.standard_normal(n_), rng.standard_normal(n_)
        _, dW_, db_, dx_ = window_gradients(x_, W_, b_, u_)
        dx_right, dW_right, db_right, _ = score_backward(1.0, score_forward(x_, W_, b_, u_)[1])
        for name, mine, right in (("dW", dW_, dW_right), ("db", db_, db_right),
                                  ("dx", dx_, dx_right)):
            assert np.shape(mine) == right.shape and np.allclose(mine, right, rtol=1e-12,
                                                                 atol=1e-15), \
                f"window_gradients: {name} is wrong for other sizes or values"

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# Every row of $\partial s / \partial W$ is $x^T$ scaled by one entry of $\delta$: a rank-one
# matrix. Hidden units whose $\sigma'(z_i)$ is small (saturated) or whose $u_i$ is small get
# small rows: the error signal, not the input, decides where $W$ learns.

# %% [markdown] exercise="why_delta" points=1
# **Question.** Why is it cheaper to compute $\delta$ once than to differentiate $s$ with
# respect to $W$, $b$ and $x$ separately?
#
# ### BEGIN SOLUTION
# Each of the three gradients needs $\partial s/\partial z = \delta$. Computed separately,
# each would redo the product $u^T \mathrm{diag}(f'(z))$; with $\delta$ computed once, the
# rest is one outer product ($dW$), a copy ($db$) and one matrix-vector product ($dx$): the
# whole backward pass costs about as much as the forward pass.
# ### END SOLUTION
