# %% [markdown]
# # 5. Fully connected networks, trained on handwritten digits
#
# The layers of a fully connected network (affine, ReLU, batch normalization, dropout)
# are layer pairs like any other, so the checker vouches for each of them, and for any
# stack of them you write. Then the network is trained: minibatch gradient descent on
# scikit-learn's 8x8 handwritten digits (1,797 images bundled with scikit-learn, nothing
# to download), with loss and accuracy curves.
#
# Needs scikit-learn: `pip install -e ".[examples]"`.

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np

from checks import assert_gradients, check_layer
from training.data import load_digits_data
from training.models import FullyConnectedNet, TwoLayerNet
from training.solver import Solver
from layers import (affine_backward, affine_forward, batchnorm_backward, batchnorm_forward,
                    dropout_backward, dropout_forward, relu_backward, relu_forward)

rng = np.random.default_rng(0)

# %% [markdown]
# ## Every layer passes the checker
#
# Batch normalization in training mode is the classic trap: its output is normalized
# over the batch, so every example's gradient depends on every other example's. Dropout
# is random, so it is checked with a fixed seed (one mask for every evaluation).

# %%
x = rng.standard_normal((6, 5))
w, b = rng.standard_normal((5, 4)), rng.standard_normal(4)
gamma, beta = rng.standard_normal(5), rng.standard_normal(5)

reports = [
    check_layer(affine_forward, affine_backward, x, w, b),
    check_layer(relu_forward, relu_backward, x),
    check_layer(batchnorm_forward, batchnorm_backward, x, gamma, beta, {"mode": "train"}),
    check_layer(dropout_forward, dropout_backward, x, {"mode": "train", "p": 0.7, "seed": 0}),
]
for report in reports:
    print(report, end="\n\n")
# Correct layers: every max relative error is below 1e-7 (threshold 1e-6).
assert all(report.ok for report in reports)

# %% [markdown]
# Why `check_layer` never uses an all-ones upstream gradient: batch norm's output has
# zero mean over the batch *whatever* $x$ is, so $\sum_n \text{out}_n$ does not depend on
# $x$, and with `dout = 1` the correct $dx$ is exactly zero. A backward that returned
# zeros, or dropped any term that averages to zero, would pass such a test.

# %%
out, cache = batchnorm_forward(x, np.ones(5), np.zeros(5), {"mode": "train"})
dx_ones = batchnorm_backward(np.ones_like(out), cache)[0]
dx_random = batchnorm_backward(rng.standard_normal(out.shape), cache)[0]
print(f"max |dx| with dout = 1: {np.abs(dx_ones).max():.1e}; with a random dout: "
      f"{np.abs(dx_random).max():.2f}")
assert np.abs(dx_ones).max() < 1e-12 and np.abs(dx_random).max() > 0.1

# %% [markdown]
# ## A sandwich layer of your own
#
# CS231n's networks are stacks of "sandwiches" such as affine - batch norm - ReLU. A
# sandwich is a layer pair too: its forward calls the three forwards and keeps their three
# caches; its backward calls the three backwards in reverse order.
#
# **Exercise 1.** Write `affine_bn_relu_forward` and `affine_bn_relu_backward` from the
# library's pairs.

# %% exercise="sandwich" points=3
def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """relu(batchnorm(x @ w + b)).

    Parameters
    ----------
    x : ndarray of shape (N, D)
    w : ndarray of shape (D, M); b, gamma, beta : ndarrays of shape (M,)
    bn_param : dict, as for batchnorm_forward

    Returns
    -------
    out : ndarray of shape (N, M)
    cache : the three layers' caches
    """
    ### BEGIN SOLUTION: chain affine_forward, batchnorm_forward and relu_forward; keep each cache
    a, affine_cache = affine_forward(x, w, b)
    normalized, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(normalized)
    cache = (affine_cache, bn_cache, relu_cache)
    ### END SOLUTION
    return out, cache


def affine_bn_relu_backward(dout, cache):
    """(dx, dw, db, dgamma, dbeta)."""
    ### BEGIN SOLUTION: the three backwards in reverse order: relu, batchnorm, affine
    affine_cache, bn_cache, relu_cache = cache
    dnormalized = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = batchnorm_backward(dnormalized, bn_cache)
    dx, dw, db = affine_backward(da, affine_cache)
    ### END SOLUTION
    return dx, dw, db, dgamma, dbeta


# %% check="sandwich"
x = rng.standard_normal((8, 5))
w, b = rng.standard_normal((5, 4)), rng.standard_normal(4)
gamma, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
out, cache = affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})
grads = affine_bn_relu_backward(rng.standard_normal(out.shape), cache)
assert np.shape(out) == (8, 4), "out has shape (N, M)"
assert [np.shape(g) for g in grads] == [x.shape, w.shape, b.shape, gamma.shape, beta.shape], \
    "the backward returns (dx, dw, db, dgamma, dbeta), each of its argument's shape"

report = check_layer(affine_bn_relu_forward, affine_bn_relu_backward, x, w, b, gamma, beta,
                     {"mode": "train"}, nudge_kinks=True)
print(report)
# Every argument passes (max rel. error about 1e-8 or less; the threshold is 1e-6).
report.raise_if_failed()
assert [a.name for a in report.arguments if a.status == "pass"] == \
    ["x", "w", "b", "gamma", "beta"]
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    for N_, D_, M_ in rng.integers(2, 7, size=(3, 3)):
        args = (rng.standard_normal((N_, D_)), rng.standard_normal((D_, M_)),
                rng.standard_normal(M_), rng.uniform(0.5, 1.5, M_), rng.standard_normal(M_))
        a, _ = affine_forward(*args[:3])
        normalized, _ = batchnorm_forward(a, *args[3:], {"mode": "train"})
        assert np.allclose(affine_bn_relu_forward(*args, {"mode": "train"})[0],
                           np.maximum(normalized, 0), rtol=1e-12, atol=1e-15), \
            "affine_bn_relu_forward is not relu(batchnorm(x @ w + b)) for other inputs"
        assert_gradients(affine_bn_relu_forward, affine_bn_relu_backward, *args,
                         {"mode": "train"}, nudge_kinks=True, seed=int(rng.integers(2**31)))

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# ## The digits
#
# `load_digits_data` returns a fixed split (72% train, 8% validation, 20% test), pixels
# scaled to [0, 1] and centred by the training set's mean image.

# %%
data = load_digits_data(seed=0)
for name in ("X_train", "X_val", "X_test"):
    print(f"{name}: {data[name].shape}")

fig, axes = plt.subplots(1, 10, figsize=(10, 1.3))
for digit, ax in enumerate(axes):
    image = data["X_train"][np.flatnonzero(data["y_train"] == digit)[0]] + data["mean_image"]
    ax.imshow(image.reshape(8, 8), cmap="gray_r")
    ax.set_title(str(digit))
    ax.set_axis_off()

# %% [markdown]
# ## Gradient descent, by hand
#
# A model has `params` (a dict of arrays) and `loss(X, y)` returning the loss and a
# gradient per parameter; `TwoLayerNet` is affine - ReLU - affine - softmax, built on the
# computational graph. Training is then a loop of small steps against the gradient.
#
# **Exercise 2.** Write one step of stochastic gradient descent: compute the loss and the
# gradients on the batch, and move every parameter by `-learning_rate` times its
# gradient. Assign new arrays to `model.params[name]` (never change an array in place:
# the model's arrays may be shared).

# %% exercise="sgd_step" points=3
def sgd_step(model, X_batch, y_batch, learning_rate):
    """Update model.params by one SGD step on the batch; return the batch loss."""
    ### BEGIN SOLUTION: model.loss with labels returns (loss, grads); then w - lr * dw per name
    loss, grads = model.loss(X_batch, y_batch)
    for name, value in model.params.items():
        model.params[name] = value - learning_rate * grads[name]
    ### END SOLUTION
    return loss


# %% check="sgd_step"
model = TwoLayerNet(input_dim=64, hidden_dim=50, num_classes=10, weight_scale=1e-3,
                    weight_seed=0)
X, y = data["X_train"], data["y_train"]

# Sanity check: with tiny weights every class gets the same score, so the loss is
# log(10) = 2.3026 (within 1e-3).
initial_loss, _ = model.loss(X[:100], y[:100])
assert abs(initial_loss - np.log(10)) < 1e-3

model = TwoLayerNet(input_dim=64, hidden_dim=50, num_classes=10, weight_scale="he",
                    weight_seed=0)
batches = np.random.default_rng(1)
losses = []
for step in range(300):
    batch = batches.choice(len(X), 64, replace=False)
    losses.append(sgd_step(model, X[batch], y[batch], learning_rate=0.3))

accuracy = np.mean(np.argmax(model.loss(data["X_val"]), axis=1) == data["y_val"])
print(f"loss {np.mean(losses[:10]):.3f} -> {np.mean(losses[-10:]):.3f}; "
      f"validation accuracy {accuracy:.3f}")
# 300 steps take the loss from about 2 to about 0.1, and validation accuracy to about 0.94.
assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:10]), "the loss hardly falls"
assert accuracy > 0.9, f"validation accuracy {accuracy:.2f} after 300 steps (about 0.94 expected)"

plt.figure(figsize=(6, 3))
plt.plot(losses, ".", markersize=3)
plt.xlabel("step")
plt.ylabel("minibatch loss");
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    net = TwoLayerNet(input_dim=64, hidden_dim=int(rng.integers(5, 20)), num_classes=10,
                      weight_scale="he", weight_seed=int(rng.integers(2**31)))
    batch = rng.choice(len(X), 16, replace=False)
    learning_rate = float(rng.uniform(0.01, 1))
    arrays = dict(net.params)
    before = {name: value.copy() for name, value in arrays.items()}
    expected_loss, grads = net.loss(X[batch], y[batch])
    loss = sgd_step(net, X[batch], y[batch], learning_rate)
    assert np.isclose(loss, expected_loss, rtol=1e-12), "sgd_step returns the batch's loss"
    for name, value in before.items():
        assert np.allclose(net.params[name], value - learning_rate * grads[name], rtol=1e-12,
                           atol=1e-15), f"sgd_step: {name} is not moved by -lr * its gradient"
        assert np.array_equal(arrays[name], value), \
            f"sgd_step changed the array of {name} in place; assign a new array"

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# ## The Solver, and deeper networks
#
# `training.solver.Solver` runs the same loop with CS231n's interface: update rules from
# `training.optim` (here Adam), epochs over shuffled minibatches, accuracies after every
# epoch, and the best parameters by validation accuracy kept at the end.
#
# First the standard sanity check of a new network: it must be able to overfit a tiny
# training set (50 examples) to 100% training accuracy.

# %%
small = {"X_train": X[:50], "y_train": y[:50], "X_val": data["X_val"], "y_val": data["y_val"]}
net = FullyConnectedNet([64, 64], input_dim=64, num_classes=10, weight_scale="he",
                        weight_seed=0)
solver = Solver(net, small, update_rule="adam", optim_config={"learning_rate": 1e-2},
                batch_size=25, num_epochs=20, verbose=False, seed=0)
solver.train()
print(f"train accuracy on 50 examples: {solver.history.train_acc[-1]:.2f}")
assert solver.history.train_acc[-1] == 1.0

# %% [markdown]
# Now three networks with two hidden layers of 100 units on the full training set:
# plain, with batch normalization, and with dropout (keeping 80% of the units).

# %%
variants = {
    "plain": dict(),
    "batchnorm": dict(normalization="batchnorm"),
    "dropout 0.8": dict(dropout_keep_ratio=0.8),
}
solvers = {}
for name, options in variants.items():
    net = FullyConnectedNet([100, 100], input_dim=64, num_classes=10, weight_scale="he",
                            reg=1e-4, weight_seed=0, **options)
    solvers[name] = Solver(net, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                           batch_size=50, num_epochs=8, verbose=False, seed=0)
    solvers[name].train()

test_accuracy = {name: solver.check_accuracy(data["X_test"], data["y_test"])
                 for name, solver in solvers.items()}
for name, accuracy in test_accuracy.items():
    print(f"{name:12} best validation {solvers[name].best_val_acc:.3f}   test {accuracy:.3f}")
# Each reaches at least 95% test accuracy (typically 96-98%).
assert all(accuracy >= 0.95 for accuracy in test_accuracy.values())

# %%
fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 3.5))
for name, solver in solvers.items():
    window = 10
    smooth = np.convolve(solver.history.loss, np.ones(window) / window, mode="valid")
    loss_ax.plot(smooth, label=name)
    acc_ax.plot(solver.history.epochs, solver.history.val_acc, "o-", label=name)
loss_ax.set(xlabel="iteration", ylabel="training loss (moving average)", yscale="log")
acc_ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0.5, 1.0))
loss_ax.legend()
acc_ax.legend();

# %% [markdown]
# `solver.history.plot()` draws one run's curves in one call:

# %%
solvers["batchnorm"].history.plot()

# %% [markdown] exercise="batchnorm_question" points=2
# **Question.** Batch normalization makes the training loss fall faster in the first
# epochs here. Why does it help optimization, and why is its backward pass in training
# mode not simply `dout * gamma / std`?
#
# ### BEGIN SOLUTION
# Normalizing every feature over the batch keeps the inputs of each layer at zero mean
# and unit variance whatever the earlier layers do, so one learning rate suits every
# layer and the gradients neither vanish nor explode at initialization. In training mode
# the mean and variance are computed from the batch, so they depend on every $x_n$: the
# full backward adds the paths through the mean and the variance,
# $dx = \frac{1}{N\sigma}\left(N\,d\hat x - \sum d\hat x - \hat x \sum d\hat x\,\hat x\right)$.
# `dout * gamma / std` is the test-mode backward, where the statistics are constants.
# ### END SOLUTION
