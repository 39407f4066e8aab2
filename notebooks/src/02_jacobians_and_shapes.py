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
# **Exercise 1.** Write the diagonal you expect, using $\sigma'(z) = \sigma(z)(1 - \sigma(z))$.

# %%
z = rng.standard_normal(6)
s = 1 / (1 + np.exp(-z))

### BEGIN SOLUTION: sigma'(z) = sigma(z) (1 - sigma(z)), elementwise; s holds sigma(z)
expected_diagonal = s * (1 - s)
### END SOLUTION

# %%
J_numeric = jacobian(lambda v: sigmoid_forward(v)[0], z)
J_backward = analytic_jacobian(sigmoid_forward, sigmoid_backward, z)

# Central differences agree with the exact derivative to about 1e-10 here.
assert J_numeric.shape == (6, 6)
assert np.allclose(np.diag(J_numeric), expected_diagonal, rtol=1e-8, atol=0)
assert np.allclose(J_numeric - np.diag(np.diag(J_numeric)), 0, atol=1e-12)
# The backward function gives the same matrix, exactly diagonal.
assert np.allclose(J_backward, np.diag(expected_diagonal), rtol=1e-12, atol=0)

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
heatmap(axes[0], J_numeric, "numeric dh/dz of sigmoid")
heatmap(axes[1], J_backward - J_numeric, "backward minus numeric")

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
# **Exercise 2.** Write the three Jacobians you expect, as arrays of the right shapes.

# %%
n, m = 3, 4
W = rng.standard_normal((n, m))
x = rng.standard_normal(m)
b = rng.standard_normal(n)
u = rng.standard_normal(n)
h = rng.standard_normal(n)

### BEGIN SOLUTION: dz/dx is n x m, dz/db is n x n, ds/du is 1 x n (a row)
J_x_expected = W
J_b_expected = np.eye(n)
J_u_expected = h[None, :]
### END SOLUTION

# %%
Wx, _ = matmul_forward(W, x)
J_x = analytic_jacobian(matmul_forward, matmul_backward, W, x, wrt=1)
J_b = analytic_jacobian(add_forward, add_backward, Wx, b, wrt=1)
J_u = analytic_jacobian(matmul_forward, matmul_backward, u, h, wrt=0)

assert J_x_expected.shape == (n, m) and J_b_expected.shape == (n, n)
assert J_u_expected.shape == (1, n)
# These layers are linear: backward gives them exactly (rel. error 0 up to rounding, < 1e-15).
assert np.allclose(J_x, J_x_expected, rtol=1e-15, atol=1e-15)
assert np.allclose(J_b, J_b_expected, rtol=0, atol=0)
assert np.allclose(J_u, J_u_expected, rtol=1e-15, atol=1e-15)
# And central differences agree (about 1e-10 for a linear function).
assert np.allclose(jacobian(lambda v: W @ v + b, x), J_x_expected, rtol=1e-8, atol=1e-10)

fig, axes = plt.subplots(1, 3, figsize=(12, 3))
heatmap(axes[0], J_x, "dz/dx (= W)")
heatmap(axes[1], J_b, "dz/db (= I)")
heatmap(axes[2], J_u, "ds/du (= h^T)")

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
# **Exercise 3.** Turn the two Jacobian-form rows `J_W` and `J_bias` into
# shape-convention gradients `dW` (shape of `W`) and `db` (shape of `b`).

# %%
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


J_W = jacobian(lambda V: score_forward(x, V, b, u)[0], W)      # Jacobian form: 1 x (n m)
J_bias = jacobian(lambda c: score_forward(x, W, c, u)[0], b)   # Jacobian form: 1 x n
print("Jacobian form:", J_W.shape, J_bias.shape)

### BEGIN SOLUTION: row-major reshape; no transpose is needed for a 1 x nm row
dW = J_W.reshape(W.shape)
db = J_bias.reshape(b.shape)
### END SOLUTION
print("shape convention:", dW.shape, db.shape)

# %%
assert dW.shape == W.shape and db.shape == b.shape
# The backward chain returns the shape convention directly; central differences agree
# with it to about 1e-10 relative (anything below 1e-7 is right).
_, dW_chain, db_chain, _ = score_backward(1.0, score_forward(x, W, b, u)[1])
assert np.allclose(dW, dW_chain, rtol=1e-7, atol=1e-10)
assert np.allclose(db, db_chain, rtol=1e-7, atol=1e-10)

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
# `ds_dz[None, :]` (the gradient of $s$ at $z$, which is also $ds/db$), from your `dW`.

# %%
### BEGIN SOLUTION: w = W.T has shape (m, n): its gradient is the transpose of dW
dw_expected = dW.T
### END SOLUTION

# %%
ds_dz = db_chain
z_row, cache = affine_forward(x[None, :], W.T, b)
dx_row, dw, db_row = affine_backward(ds_dz[None, :], cache)
assert dw.shape == (m, n)
# The same numbers as central differences (rel. error about 1e-10, below 1e-7 passes).
assert np.allclose(dw, dw_expected, rtol=1e-7, atol=1e-10)
assert np.allclose(db_row, db, rtol=1e-7, atol=1e-10)

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

# %%
z_window = W_window @ x_window + b_window

### BEGIN SOLUTION: delta = u * f'(z), f'(z) = f(z) (1 - f(z)); then reuse delta three times
h_window = 1 / (1 + np.exp(-z_window))
delta = u_window * h_window * (1 - h_window)
dW_window = np.outer(delta, x_window)
db_window = delta
dx_window = W_window.T @ delta
### END SOLUTION

# %%
dx_chain, dW_chain, db_chain, du_chain = score_backward(1.0, window_cache)
assert delta.shape == (hidden_dim,) and dW_window.shape == W_window.shape
assert dx_window.shape == x_window.shape
# The library's chain of backward functions: agreement to rounding (< 1e-12).
assert np.allclose(dW_window, dW_chain, rtol=1e-12, atol=1e-15)
assert np.allclose(db_window, db_chain, rtol=1e-12, atol=1e-15)
assert np.allclose(dx_window, dx_chain, rtol=1e-12, atol=1e-15)
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

# %% [markdown]
# Every row of $\partial s / \partial W$ is $x^T$ scaled by one entry of $\delta$: a rank-one
# matrix. Hidden units whose $\sigma'(z_i)$ is small (saturated) or whose $u_i$ is small get
# small rows: the error signal, not the input, decides where $W$ learns.
#
# **Question.** Why is it cheaper to compute $\delta$ once than to differentiate $s$ with
# respect to $W$, $b$ and $x$ separately?
#
# ### BEGIN SOLUTION
# Each of the three gradients needs $\partial s/\partial z = \delta$. Computed separately,
# each would redo the product $u^T \mathrm{diag}(f'(z))$; with $\delta$ computed once, the
# rest is one outer product ($dW$), a copy ($db$) and one matrix-vector product ($dx$): the
# whole backward pass costs about as much as the forward pass.
# ### END SOLUTION
