"""Weight initializers drawing from a ``np.random.Generator`` (never the global RNG).

Fans follow gatelab's (CS231n's) weight layouts, which differ from PyTorch's for dense
layers:

- affine weight ``(D, M)`` (inputs, outputs): fan_in = D, fan_out = M. PyTorch's
  ``nn.Linear`` stores ``(out, in)``, so ``torch.nn.init`` reads the two the other way
  round on a 2-d array; transpose before comparing.
- conv weight ``(F, C, HH, WW)``: fan_in = C * HH * WW, fan_out = F * HH * WW (the same
  as PyTorch's).

- Xavier/Glorot (Glorot & Bengio 2010): variance gain^2 * 2 / (fan_in + fan_out), which
  keeps activation and gradient variances steady through tanh-like layers.
- He/Kaiming (He et al. 2015, "Delving Deep into Rectifiers"): variance gain^2 / fan,
  with gain sqrt(2) for ReLU, which zeroes half of its input.

Examples
--------
>>> w = he_normal(np.random.default_rng(0), (64, 100))
>>> round(float(w.std()), 3)        # sqrt(2 / 64) = 0.1768
0.176
"""

import math
import numbers

import numpy as np

from layers.contract import Args, describe

__all__ = ["fans", "normal", "uniform", "xavier_normal", "xavier_uniform", "he_normal",
           "he_uniform"]

RELU_GAIN = math.sqrt(2.0)


def fans(shape):
    """(fan_in, fan_out) of a weight of `shape` in gatelab's layouts (module docstring).

    A 1-d shape (a bias) counts its length as both fans.
    """
    return _fans(Args("fans"), shape)


def normal(rng, shape, std=1.0, mean=0.0, dtype=np.float64):
    """Draws from N(mean, std^2): CS231n's ``weight_scale * randn(D, M)`` with std = weight_scale.

    Parameters
    ----------
    rng : np.random.Generator or int
        The source of randomness (an int seeds a new Generator).
    shape : int or tuple of int
        Sizes >= 1; an int n means (n,), as in NumPy.
    std : float, >= 0
    mean : float
    dtype : float32 or float64
        Values are drawn in float64 and cast, so one seed gives the same numbers in both.

    Returns
    -------
    ndarray of `shape` and `dtype`
    """
    check = Args("normal")
    shape = _shape(check, shape)
    check.number("std", std, low=0)
    check.number("mean", mean)
    rng, dtype = _generator(check, rng), float_dtype(check, dtype)
    return (mean + std * rng.standard_normal(shape)).astype(dtype)


def uniform(rng, shape, low=-1.0, high=1.0, dtype=np.float64):
    """Draws from U[low, high).

    Parameters are as in `normal`, with the interval [low, high) in place of std and mean.
    """
    check = Args("uniform")
    shape = _shape(check, shape)
    check.number("low", low)
    check.number("high", high, low=low)
    rng, dtype = _generator(check, rng), float_dtype(check, dtype)
    return rng.uniform(low, high, shape).astype(dtype)


def xavier_normal(rng, shape, gain=1.0, dtype=np.float64):
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).

    Same rule as ``torch.nn.init.xavier_normal_`` (on the transposed dense layout).
    """
    fan_in, fan_out, gain = _fans_and_gain(Args("xavier_normal"), shape, gain)
    return normal(rng, shape, std=gain * math.sqrt(2.0 / (fan_in + fan_out)), dtype=dtype)


def xavier_uniform(rng, shape, gain=1.0, dtype=np.float64):
    """Glorot uniform: U[-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    The same variance as `xavier_normal`: a^2 / 3 = gain^2 * 2 / (fan_in + fan_out).
    """
    fan_in, fan_out, gain = _fans_and_gain(Args("xavier_uniform"), shape, gain)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(rng, shape, -bound, bound, dtype=dtype)


def he_normal(rng, shape, gain=RELU_GAIN, mode="fan_in", dtype=np.float64):
    """He/Kaiming normal: N(0, std^2) with std = gain / sqrt(fan), fan = fan_in by default.

    ``mode='fan_in'`` keeps the forward activations' variance; ``'fan_out'`` keeps the
    backward gradients'. Same rule as ``torch.nn.init.kaiming_normal_`` with
    ``nonlinearity='relu'`` (gain sqrt(2)).
    """
    fan, gain = _fan(Args("he_normal"), shape, gain, mode)
    return normal(rng, shape, std=gain / math.sqrt(fan), dtype=dtype)


def he_uniform(rng, shape, gain=RELU_GAIN, mode="fan_in", dtype=np.float64):
    """He/Kaiming uniform: U[-a, a) with a = gain * sqrt(3 / fan), the variance of `he_normal`."""
    fan, gain = _fan(Args("he_uniform"), shape, gain, mode)
    bound = gain * math.sqrt(3.0 / fan)
    return uniform(rng, shape, -bound, bound, dtype=dtype)


def _shape(check, shape):
    """`shape` as a tuple of ints >= 1 (an int n is (n,), as in NumPy), or an error."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise check.error(f"shape must be an int or a tuple of ints; got "
                          f"{describe(shape)}", TypeError)
    if not shape or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                            and d >= 1 for d in shape):
        raise check.error(f"shape must be a non-empty tuple of ints >= 1; got {shape!r}")
    return tuple(int(d) for d in shape)


def _fans(check, shape):
    shape = _shape(check, shape)
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fans_and_gain(check, shape, gain):
    fan_in, fan_out = _fans(check, shape)
    return fan_in, fan_out, check.number("gain", gain, low=0, low_open=True)


def _fan(check, shape, gain, mode):
    """The fan `mode` selects, and the checked gain, for the He initializers."""
    fan_in, fan_out, gain = _fans_and_gain(check, shape, gain)
    fan = fan_in if check.choice("mode", mode, ("fan_in", "fan_out")) == "fan_in" \
        else fan_out
    return fan, gain


def _generator(check, rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise check.error(f"rng must be a np.random.Generator or an int seed; got "
                      f"{describe(rng)} (the global RNG is never used)", TypeError)


def float_dtype(check, dtype):
    """`dtype` as a np.dtype, float32 or float64, or an error from `check`."""
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise check.error(f"dtype must be float32 or float64; got {dtype}", TypeError)
    return dtype
