"""Numerically stable building blocks shared by activations, losses and attention.

Each one takes exp only of non-positive numbers, so nothing overflows. Those exps may
underflow to 0 (exp(-1e4)), which is the correctly rounded answer, so underflow is
ignored inside them even when the caller runs under ``np.errstate(all="raise")``. So is
the overflow of x - max(x) to -inf, when a row spans more than the dtype's range (from
-3e38 to 3e38 in float32): exp(-inf) = 0 is right there too.
"""

import numpy as np


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp is only ever taken of -|x| and min(x, 0)."""
    with np.errstate(under="ignore"):
        # The numerator of each branch, 1 / (1 + z) where x >= 0 and z / (1 + z)
        # elsewhere (z = exp(-|x|)), is exp(min(x, 0)), bit for bit: a second exp costs
        # less than a select between two quotients on signs that mix at random (0.5 to
        # 0.6 times the time on (64, 768) float32, 0.2 to 0.5 on (64, 24576):
        # benchmarks/README.md, "sigmoid").
        numerator = np.asarray(np.exp(np.minimum(x, 0)))
        denominator = np.exp(-np.abs(x))
    denominator += 1
    return np.divide(numerator, denominator, out=numerator)


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
