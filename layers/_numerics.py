"""Numerically stable building blocks shared by activations, losses and attention.

Each one takes exp only of non-positive numbers, so nothing overflows. Those exps may
underflow to 0 (exp(-1e4)), which is the correctly rounded answer, so underflow is
ignored inside them even when the caller runs under ``np.errstate(all="raise")``. So is
the overflow of x - max(x) to -inf, when a row spans more than the dtype's range (from
-3e38 to 3e38 in float32): exp(-inf) = 0 is right there too.
"""

import numpy as np


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp is only ever taken of -|x|."""
    with np.errstate(under="ignore"):
        z = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`, shifted by the max so that exp never overflows."""
    with np.errstate(over="ignore"):
        shifted = x - np.max(x, axis=axis, keepdims=True)
    with np.errstate(under="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, shifted by the max."""
    with np.errstate(under="ignore", over="ignore"):
        shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return shifted / np.sum(shifted, axis=axis, keepdims=True)


def softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), exact for large |x|."""
    with np.errstate(under="ignore"):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
