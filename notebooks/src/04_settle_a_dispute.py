# %% [markdown]
# # 4. Settle a dispute with the checker
#
# A deep-learning exam asked for the gradients of a small network: two ReLU layers and a
# softmax cross-entropy loss,
#
# $$z_1 = W_1 x + b_1,\quad h_1 = \mathrm{ReLU}(z_1),\quad z_2 = W_2 h_1 + b_2,\quad
# h_2 = \mathrm{ReLU}(z_2),\quad \hat y = \mathrm{softmax}(h_2),\quad
# J = -\sum_i y_i \log \hat y_i$$
#
# with $y$ one-hot. Two answer keys were published, and they disagree with each other:
#
# - **Key A** writes $\mathrm{ReLU}(z_2)$ where the derivative $\mathrm{ReLU}'(z_2)$ belongs,
#   and drops transposes;
# - **Key B** writes $\sum_m x_m$ where $x_m$ belongs in $\partial J / \partial W_1$.
#
# Arguing over which is right takes an afternoon. The numeric gradient checker takes
# seconds, and also says *which* gradient is wrong and *where*. You will encode the right
# answer, then put all three on trial.

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np

from checks import assert_gradients, check_layer
from layers import (add_backward, add_forward, matmul_backward, matmul_forward,
                    relu_backward, relu_forward, softmax_forward, softmax_loss_backward,
                    softmax_loss_forward)

# %% [markdown]
# ## The network, built from the library's layers
#
# `matmul_forward(W, x)` multiplies a matrix by a column vector as the exam writes it, so
# the forward pass reads like the equations. The cache keeps the intermediate values that
# the answer keys' formulas use. The three layers are square (3 inputs, 3 hidden units, 3
# classes) on purpose: then a dropped transpose still gives arrays of the right shape,
# and no dimension check can catch it.

# %%
x = np.array([0.8, -1.5, 2.0])
label = 0                                   # y = e_0
W1 = np.array([[0.4, -0.6, 0.2],
               [-0.3, 0.5, 0.7],
               [0.9, 0.1, -0.8]])
b1 = np.array([0.1, 0.2, 0.3])
W2 = np.array([[0.5, -0.4, 0.6],
               [-0.7, 0.3, 0.2],
               [0.2, 0.8, -0.5]])
b2 = np.array([-0.1, 0.4, 0.5])


def exam_forward(W1, b1, W2, b2, *, x, label):
    """J of the exam network; x and label are keyword arguments, so they get no gradient.

    Returns
    -------
    J : 0-d ndarray
    cache : dict of the intermediate values (x, y, z1, h1, z2, yhat, W2) and the layers'
        caches (key "layers")
    """
    Wx, c1 = matmul_forward(W1, x)
    z1, c2 = add_forward(Wx, b1)
    h1, c3 = relu_forward(z1)
    Wh, c4 = matmul_forward(W2, h1)
    z2, c5 = add_forward(Wh, b2)
    h2, c6 = relu_forward(z2)
    J, c7 = softmax_loss_forward(h2[None, :], np.array([label]))   # a batch of one
    y = np.eye(len(b2))[label]
    cache = dict(x=x, y=y, z1=z1, h1=h1, z2=z2, yhat=softmax_forward(h2)[0], W2=W2,
                 layers=(c1, c2, c3, c4, c5, c6, c7))
    return J, cache


J, cache = exam_forward(W1, b1, W2, b2, x=x, label=label)
for name in ("z1", "h1", "z2", "yhat"):
    print(f"{name:>4} = {np.round(cache[name], 4)}")
print(f"   J = {float(J):.6f}")

# %% [markdown]
# Every pre-activation is far from ReLU's kink at 0 (the checker's steps are about
# $10^{-5}$), and both layers have units on each side of it, so every term of the
# formulas matters.
#
# ## The right answer
#
# With $u(\cdot)$ the unit step (ReLU's derivative) and $\hat y - y$ the gradient of
# softmax cross-entropy at $h_2$, the chain rule gives, index by index,
#
# $$\frac{\partial J}{\partial W_2[i,n]} = u(z_{2,i})(\hat y_i - y_i)\, h_{1,n}, \qquad
# \frac{\partial J}{\partial b_2[i]} = u(z_{2,i})(\hat y_i - y_i),$$
#
# $$\frac{\partial J}{\partial W_1[j,m]} = u(z_{1,j})\, x_m \sum_i u(z_{2,i})(\hat y_i - y_i)
# W_2[i,j], \qquad \frac{\partial J}{\partial b_1[j]} = u(z_{1,j}) \sum_i
# u(z_{2,i})(\hat y_i - y_i) W_2[i,j].$$
#
# **Exercise 1.** Encode these formulas in `right_key`. Loops over the indices are fine
# (the network is tiny), and so are the vectorized forms $\delta_2 = u(z_2) \circ (\hat y - y)$,
# $dW_2 = \delta_2 h_1^T$, $\delta_1 = u(z_1) \circ W_2^T \delta_2$, $dW_1 = \delta_1 x^T$.

# %% exercise="right_key" points=4
# The cache entries that the formulas use.
INTERMEDIATES = ("x", "y", "z1", "h1", "z2", "yhat", "W2")


def step(z):
    """The unit step u(z): ReLU's derivative (1 where z > 0, else 0)."""
    return (z > 0).astype(z.dtype)


def right_key(c):
    """(dW1, db1, dW2, db2) from the intermediate values in the cache dict c."""
    x, y, z1, h1, z2, yhat, W2 = (c[name] for name in INTERMEDIATES)
    ### BEGIN SOLUTION: compute delta2 (at z2), then delta1 (at z1); reuse them
    delta2 = step(z2) * (yhat - y)
    delta1 = step(z1) * (W2.T @ delta2)
    dW2 = np.outer(delta2, h1)
    db2 = delta2
    dW1 = np.outer(delta1, x)
    db1 = delta1
    ### END SOLUTION
    return dW1, db1, dW2, db2


# %% check="right_key"
your_gradients = right_key(cache)
assert [np.shape(g) for g in your_gradients] == [W1.shape, b1.shape, W2.shape, b2.shape], \
    "right_key returns (dW1, db1, dW2, db2), each of its parameter's shape"


def right_key_backward(dJ, c):
    """The right key's gradients, scaled by the upstream dJ."""
    return tuple(dJ * g for g in right_key(c))


report = check_layer(exam_forward, right_key_backward, W1, b1, W2, b2, x=x, label=label,
                     name="right key")
print(report)
report.raise_if_failed()
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for inputs, hidden, classes in rng.integers(2, 6, size=(3, 3)):
        params = (rng.standard_normal((hidden, inputs)), rng.standard_normal(hidden),
                  rng.standard_normal((classes, hidden)), rng.standard_normal(classes))
        assert_gradients(exam_forward, right_key_backward, *params,
                         x=rng.standard_normal(inputs), label=int(rng.integers(classes)),
                         seed=int(rng.integers(2**31)), nudge_kinks=True)

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS


# %% [markdown]
# ## The published keys
#
# Key A as printed, in matrix form, and key B as printed, index by index. Key A's two
# slips are flags, so that each can be put on trial alone.

# %%
def key_A(c, relu_for_step=True, drop_transposes=True):
    """Key A: ReLU(z2) where u(z2) belongs, and no transposes."""
    x, y, z1, h1, z2, yhat, W2 = (c[name] for name in INTERMEDIATES)
    gate2 = np.maximum(z2, 0) if relu_for_step else step(z2)
    delta2 = gate2 * (yhat - y)
    # As printed: h1 delta2 where delta2 h1^T belongs, W2 delta2 where W2^T delta2
    # belongs, x delta1 where delta1 x^T belongs. The flag puts each transpose back.
    back = W2 if drop_transposes else W2.T
    delta1 = step(z1) * (back @ delta2)
    dW2, dW1 = np.outer(h1, delta2), np.outer(x, delta1)
    if not drop_transposes:
        dW2, dW1 = dW2.T, dW1.T
    return dW1, delta1, dW2, delta2


def key_B(c):
    """Key B: the right formulas, except sum_m x_m where x_m belongs in dJ/dW1."""
    x, y, z1, h1, z2, yhat, W2 = (c[name] for name in INTERMEDIATES)
    hidden, inputs, classes = len(z1), len(x), len(z2)
    dW2 = np.array([[step(z2)[i] * (yhat[i] - y[i]) * h1[n] for n in range(hidden)]
                    for i in range(classes)])
    db2 = step(z2) * (yhat - y)
    back = [sum(step(z2)[i] * (yhat[i] - y[i]) * W2[i, j] for i in range(classes))
            for j in range(hidden)]
    dW1 = np.array([[step(z1)[j] * x.sum() * back[j] for m in range(inputs)]
                    for j in range(hidden)])
    db1 = step(z1) * np.array(back)
    return dW1, db1, dW2, db2


def backward_from(key, **flags):
    """A backward function giving the key's gradients, scaled by the upstream dJ."""
    def backward(dJ, cache):
        return tuple(dJ * g for g in key(cache, **flags))
    return backward


def library_backward(dJ, cache):
    """(dW1, db1, dW2, db2) from the library's backward functions, in reverse order."""
    c1, c2, c3, c4, c5, c6, c7 = cache["layers"]
    dh2 = softmax_loss_backward(dJ, c7)[0]
    dWh, db2 = add_backward(relu_backward(dh2, c6), c5)
    dW2, dh1 = matmul_backward(dWh, c4)
    dWx, db1 = add_backward(relu_backward(dh1, c3), c2)
    dW1, _ = matmul_backward(dWx, c1)
    return dW1, db1, dW2, db2


# %% [markdown]
# ## The trial
#
# `check_layer` compares each backward with central differences of `exam_forward`, one
# parameter at a time, and says for each whether it passes. The library's own backward
# functions are a fourth witness.

# %%
suspects = {
    "right key (yours)": backward_from(right_key),
    "library backprop": library_backward,
    "key A": backward_from(key_A),
    "key A, only ReLU(z2) for u(z2)": backward_from(key_A, drop_transposes=False),
    "key A, only dropped transposes": backward_from(key_A, relu_for_step=False),
    "key B": backward_from(key_B),
}
reports = {name: check_layer(exam_forward, backward, W1, b1, W2, b2, x=x, label=label,
                             name=name)
           for name, backward in suspects.items()}

parameters = ["W1", "b1", "W2", "b2"]
print(f"{'':32}" + "".join(f"{p:>14}" for p in parameters))
for name, report in reports.items():
    row = {a.name: f"{a.status} {a.max_rel_error:.0e}" for a in report.arguments}
    print(f"{name:32}" + "".join(f"{row[p]:>14}" for p in parameters))

# %% [markdown]
# Each row is a verdict per parameter: the status and the largest relative error
# between the key and central differences (a right gradient is at about $10^{-10}$, the
# threshold is $10^{-6}$).

# %%
def verdict(name):
    return {a.name for a in reports[name].arguments if a.status == "FAIL"}


assert reports["right key (yours)"].ok and reports["library backprop"].ok
# Your key and the library agree to rounding (about 1e-16).
for mine, library in zip(right_key(cache), library_backward(1.0, cache)):
    assert np.allclose(mine, library, rtol=1e-12, atol=1e-15)

assert verdict("key A") == {"W1", "b1", "W2", "b2"}       # every gradient is wrong
assert verdict("key A, only ReLU(z2) for u(z2)") == {"W1", "b1", "W2", "b2"}
assert verdict("key A, only dropped transposes") == {"W1", "b1", "W2"}   # b2 survives
assert verdict("key B") == {"W1"}                           # only dJ/dW1 is wrong

# %% [markdown]
# ## Where key B goes wrong
#
# The report of key B locates the wrong elements, and the heatmap shows the pattern:
# every element of $\partial J / \partial W_1$ in the rows of the *active* hidden units
# ($z_{1,j} > 0$) is wrong; the row of the inactive unit is 0 in both, so it agrees.

# %%
print(reports["key B"])
reports["key B"].plot()

# %%
W1_result = next(a for a in reports["key B"].arguments if a.name == "W1")
wrong_rows = {int(j) for j, m in np.argwhere(W1_result.errors > reports["key B"].tolerance)}
assert wrong_rows == {int(j) for j in np.flatnonzero(cache["z1"] > 0)}    # rows 0 and 1
# The checker names a dropped transpose of dW2 when it is the only slip.
transposes_only = reports["key A, only dropped transposes"]
assert next(a for a in transposes_only.arguments if a.name == "W2").hint == \
    "transposed: analytic.T matches numeric"

# %% [markdown]
# A picture of the whole trial: each key's largest relative error per parameter, on a
# log scale, with the pass threshold.

# %%
fig, ax = plt.subplots(figsize=(9, 3.5))
width = 0.8 / len(reports)
for k, (name, report) in enumerate(reports.items()):
    errors = {a.name: max(a.max_rel_error, 1e-17) for a in report.arguments}
    ax.bar(np.arange(4) + k * width, [errors[p] for p in parameters], width, label=name)
ax.axhline(reports["key B"].tolerance, color="black", linestyle="--", linewidth=1)
ax.set_yscale("log")
ax.set_xticks(np.arange(4) + 0.4 - width / 2, parameters)
ax.set_ylabel("max relative error")
ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
fig.tight_layout()

# %% [markdown] exercise="which_key" points=2
# **Question.** Which key is wrong, in which gradients, and why does key A's dropped
# transpose leave $\partial J / \partial b_2$ right?
#
# ### BEGIN SOLUTION
# Both keys are wrong. Key A is wrong in all four gradients: $\mathrm{ReLU}(z_2)$ instead
# of $u(z_2)$ scales $\delta_2$ by $z_{2,i}$, and that error flows into every gradient;
# its dropped transposes alone break $W_2$ (transposed outer product), $W_1$ and $b_1$
# ($W_2 \delta_2$ instead of $W_2^T \delta_2$), but not $b_2 = \delta_2$, which involves
# no matrix. Key B is right except for $\partial J / \partial W_1$: it replaces $x_m$ by
# $\sum_m x_m$, so every column of a row is the same. The rows of inactive hidden units
# are 0 in every key, so the checker finds the error exactly in the active rows.
# ### END SOLUTION
