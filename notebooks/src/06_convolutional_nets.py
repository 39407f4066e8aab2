# %% [markdown]
# # 6. Convolutional networks
#
# A convolutional layer slides $F$ small filters over the image; each output is the dot
# product of a filter with one window of the (zero-padded) input:
#
# $$\text{out}[n, f, i, j] = b_f + \sum_{c,u,v} w[f, c, u, v]\;
# x_p[n, c, i s + u, j s + v]$$
#
# with stride $s$ and padding $p$. gatelab has each convolutional layer twice: a naive
# version with loops (the definition, easy to read and to trust) and a fast one that
# lowers the convolution to one matrix product (*im2col*: every window becomes a column,
# then BLAS multiplies). In this notebook you write the loops yourself, compare them with
# both library versions, measure the speed-up, and train a small convnet on the digits.
#
# Needs scikit-learn for the digits: `pip install -e ".[examples]"`.

# %%
# %matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from checks import check_layer
from training.data import load_digits_data
from training.models import ThreeLayerConvNet
from training.solver import Solver
from layers import (conv_backward, conv_forward, conv_forward_naive, max_pool_backward,
                    max_pool_forward)

rng = np.random.default_rng(0)

# %% [markdown]
# ## The definition, in loops
#
# **Exercise 1.** Write the forward pass with loops over the examples, the filters and the
# output positions; the sum over $(c, u, v)$ can be one `np.sum` of an elementwise
# product. The output size is $H_o = (H + 2p - HH)/s + 1$ (and likewise $W_o$);
# `np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))` pads with zeros.

# %% exercise="conv_loops" points=4
def conv_forward_loops(x, w, b, stride, pad):
    """Convolution by its definition.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    w : ndarray of shape (F, C, HH, WW)
    b : ndarray of shape (F,)
    stride, pad : int

    Returns
    -------
    out : ndarray of shape (N, F, Ho, Wo)
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    ### BEGIN SOLUTION: pad, compute Ho and Wo, then out[n, f, i, j] = sum(window * w[f]) + b[f]
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    ### END SOLUTION
    return out


# %% check="conv_loops"
x = rng.standard_normal((2, 3, 7, 7))
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)
conv_param = {"stride": 2, "pad": 1}

mine = conv_forward_loops(x, w, b, **conv_param)
naive, _ = conv_forward_naive(x, w, b, conv_param)
fast, _ = conv_forward(x, w, b, conv_param)
assert np.shape(mine) == (2, 4, 4, 4), \
    "out has shape (N, F, Ho, Wo) with Ho = (H + 2 pad - HH) // stride + 1"
# Three implementations, one answer: they differ only by rounding (< 1e-12 relative).
assert np.allclose(mine, naive, rtol=1e-12, atol=1e-12), "conv_forward_loops differs from " \
    "conv_forward_naive"
assert np.allclose(mine, fast, rtol=1e-12, atol=1e-12)
### BEGIN HIDDEN TESTS
def hidden_checks(rng):
    def size(kernel, stride, pad):
        """An input size >= 1 for which the windows tile the padded input exactly."""
        fewest_steps = max(0, -((kernel - 2 * pad - 1) // stride))
        return kernel - 2 * pad + stride * (fewest_steps + int(rng.integers(0, 3)))

    for stride, pad in [(1, 0), (1, 2), (2, 1), (3, 0)]:
        N_, C_, F_ = rng.integers(1, 4, size=3)
        HH_, WW_ = (int(k) for k in rng.integers(1, 4, size=2))
        H_, W_ = size(HH_, stride, pad), size(WW_, stride, pad)
        x_ = rng.standard_normal((N_, C_, H_, W_))
        w_ = rng.standard_normal((F_, C_, HH_, WW_))
        b_ = rng.standard_normal(F_)
        expected, _ = conv_forward_naive(x_, w_, b_, {"stride": stride, "pad": pad})
        got = conv_forward_loops(x_, w_, b_, stride=stride, pad=pad)
        assert np.shape(got) == expected.shape and np.allclose(got, expected, rtol=1e-12,
                                                               atol=1e-12), \
            f"conv_forward_loops is wrong at stride {stride}, pad {pad}"

hidden_checks(np.random.default_rng(int(os.environ.get("GATELAB_SEED", "0"))))
### END HIDDEN TESTS

# %% [markdown]
# ## How much faster is the fast one?
#
# The loops run $N \cdot F \cdot H_o \cdot W_o$ small Python-level steps; the fast version
# does $HH \cdot WW$ strided copies to build the columns and then one matrix product.

# %%
x = rng.standard_normal((16, 3, 16, 16))
w = rng.standard_normal((8, 3, 3, 3))
b = rng.standard_normal(8)
conv_param = {"stride": 1, "pad": 1}


def seconds(function, repeat):
    """The best of `repeat` timings of function()."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


naive_seconds = seconds(lambda: conv_forward_naive(x, w, b, conv_param), repeat=1)
fast_seconds = seconds(lambda: conv_forward(x, w, b, conv_param), repeat=5)
print(f"naive {naive_seconds * 1e3:.0f} ms, fast {fast_seconds * 1e3:.2f} ms: "
      f"{naive_seconds / fast_seconds:.0f}x faster")
assert np.allclose(conv_forward_naive(x, w, b, conv_param)[0],
                   conv_forward(x, w, b, conv_param)[0], rtol=1e-12, atol=1e-12)
# Typically 20x to 100x on this small workload (more on larger ones). Timings vary on a
# busy machine, so the ratio is printed, never asserted: the agreement above is the check.

# %% [markdown]
# ## Their gradients
#
# Both layers pass the checker. Max pooling has kinks: where two entries of a window
# tie, the max is not differentiable. The checker detects an input at a kink (its one-sided
# differences disagree) and reports it instead of failing; random inputs have no ties.

# %%
x = rng.standard_normal((2, 3, 6, 6))
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)
pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
conv_report = check_layer(conv_forward, conv_backward, x, w, b, {"stride": 1, "pad": 1})
pool_report = check_layer(max_pool_forward, max_pool_backward, x, pool_param)
print(conv_report, pool_report, sep="\n\n")
# Max relative errors about 1e-9 or less (threshold 1e-6).
assert conv_report.ok and pool_report.ok

# %% [markdown]
# ## A small convnet on the digits
#
# `ThreeLayerConvNet` is conv (3x3, 16 filters) - ReLU - 2x2 max pool - affine - ReLU -
# affine - softmax, here on the 8x8 digits as images of one channel.

# %%
data = load_digits_data(seed=0, images=True)
print("X_train:", data["X_train"].shape)

model = ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=64,
                          num_classes=10, weight_scale="he", reg=1e-3, weight_seed=0)
solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 2e-3},
                batch_size=50, num_epochs=5, verbose=False, seed=0)
solver.train()
test_accuracy = solver.check_accuracy(data["X_test"], data["y_test"])
print(f"best validation accuracy {solver.best_val_acc:.3f}, test accuracy {test_accuracy:.3f}")
# Five epochs reach about 97% test accuracy.
assert test_accuracy >= 0.95
solver.history.plot()

# %% [markdown]
# ### The first layer's filters
#
# Each filter is a 3x3 pattern that the first layer responds to. Many are oriented
# contrasts, positive on one side and negative on the other: small detectors of the
# strokes' edges.

# %%
filters = model.params["W1"][:, 0]                    # (16, 3, 3): one input channel
fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
for f, ax in zip(filters, axes.ravel()):
    limit = np.abs(f).max()
    ax.imshow(f, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_axis_off()
fig.suptitle("first-layer filters (red positive, blue negative)");

# %% [markdown] exercise="im2col_question" points=2
# **Question.** The fast convolution computes exactly the same sums as the loops. Where
# does its speed come from, and what does it cost?
#
# ### BEGIN SOLUTION
# The loops spend their time in the Python interpreter: one small `np.sum` per output
# element, each with overhead far larger than its few multiplications. im2col copies every
# window into a column (a few strided copies in total, one per kernel element) and then
# computes all outputs with one matrix product, which BLAS runs at close to the machine's
# peak (vectorized, cache-blocked, on every core). The cost is memory: the column matrix
# holds every input value once per window that contains it ($HH \cdot WW$ times for stride
# 1), so the fast version processes the batch in chunks to keep that buffer small.
# ### END SOLUTION
