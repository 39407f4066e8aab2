"""Activation functions: elementwise nonlinearities, and softmax over the last axis.

An elementwise activation y = f(x) has a diagonal Jacobian diag(f'(x)), so its backward is
dx = dout * f'(x). The derivatives used here::

    relu        f'(x) = 1 if x > 0 else 0                (0 at x = 0)
    leaky_relu  f'(x) = 1 if x > 0 else alpha            (alpha at x = 0)
    elu         f'(x) = 1 if x > 0 else alpha * exp(x)   (alpha at x = 0)
    gelu        f'(x) = Phi(x) + x * phi(x)              (Phi, phi: standard normal cdf, pdf)
    gelu_tanh   f'(x) = (1 + t) / 2 + x (1 - t**2) c (1 + 3 k x**2) / 2,
                t = tanh(c (x + k x**3)), c = sqrt(2 / pi), k = 0.044715
    silu        f'(x) = s + x s (1 - s),  s = sigmoid(x)
    sigmoid     f'(x) = y (1 - y)
    tanh        f'(x) = 1 - y**2
    softplus    f'(x) = sigmoid(x)

Softmax over the last axis has the Jacobian dy_i/dx_k = y_i (delta_ik - y_k), so
dx = y * (dout - sum(dout * y)) with the sum over the last axis.

At the kinks of relu, leaky_relu and elu (x = 0) the derivative of the branch x <= 0 is
used, as PyTorch does and as CS231n's ``relu_backward`` (``dout * (x > 0)``) does. Keyword
options such as ``alpha`` are constants: they get no gradient.
"""

import math

import numpy as np

from . import _numerics
from ._examples import away_from, dims, normal
from .contract import Args, backward_of, differentiable
from .registry import Example, register

__all__ = [
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "elu_forward", "elu_backward",
    "gelu_forward", "gelu_backward",
    "gelu_tanh_forward", "gelu_tanh_backward",
    "silu_forward", "silu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "softplus_forward", "softplus_backward",
    "softmax_forward", "softmax_backward",
]

# Python floats, not NumPy float64 scalars: NumPy keeps float32 arrays float32 only when
# they meet Python numbers.
SQRT_2 = math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
GELU_TANH_C = math.sqrt(2.0 / math.pi)
GELU_TANH_K = 0.044715


_NO_OPTION = object()


def _input(x, alpha=_NO_OPTION):
    """x checked as a float array; with `alpha`, (x, alpha as a Python float)."""
    check = Args()
    if alpha is _NO_OPTION:
        return check.floats("x", x)
    alpha = check.number("alpha", alpha)
    return check.floats("x", x), alpha


@differentiable("x")
def relu_forward(x):
    """Rectified linear unit, max(x, 0).

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : x, for `relu_backward`

    Examples
    --------
    >>> relu_forward(np.array([-1.0, 0.0, 2.0]))[0]
    array([0., 0., 2.])
    """
    x = _input(x)
    return np.maximum(x, 0), x


@backward_of(relu_forward)
def relu_backward(dout, cache):
    """Backward pass of `relu_forward`: dx = dout where x > 0, else 0.

    The derivative at x = 0 is taken as 0, as CS231n's ``relu_backward`` and PyTorch do.

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `relu_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    x = cache
    return dout * (x > 0)


@differentiable("x")
def leaky_relu_forward(x, *, alpha=0.01):
    """Leaky ReLU: x for x > 0, alpha * x otherwise (Maas et al. 2013).

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64
    alpha : float, keyword-only
        Slope for x <= 0 (PyTorch's ``negative_slope``); a constant, no gradient.

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : (x, alpha) for `leaky_relu_backward`
    """
    x, alpha = _input(x, alpha)
    return np.where(x > 0, x, alpha * x), (x, alpha)


@backward_of(leaky_relu_forward)
def leaky_relu_backward(dout, cache):
    """Backward pass of `leaky_relu_forward`: dout where x > 0, alpha * dout elsewhere.

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `leaky_relu_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    x, alpha = cache
    return np.where(x > 0, dout, alpha * dout)


@differentiable("x")
def elu_forward(x, *, alpha=1.0):
    """Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise.

    Clevert, Unterthiner and Hochreiter 2016, "Fast and Accurate Deep Network Learning
    by Exponential Linear Units (ELUs)"; ``torch.nn.functional.elu``.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64
    alpha : float, keyword-only
        Scale of the negative part, which tends to -alpha; a constant, no gradient.

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : (x, alpha) for `elu_backward`
    """
    x, alpha = _input(x, alpha)
    # exp only of the non-positive part: np.where evaluates both branches everywhere.
    negative = alpha * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, x, negative), (x, alpha)


@backward_of(elu_forward)
def elu_backward(dout, cache):
    """Backward pass of `elu_forward`: dout where x > 0, dout * alpha * exp(x) elsewhere.

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `elu_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    x, alpha = cache
    # exp(x) underflows to 0 for x below about -745, which is the correct value; it is
    # not (out + alpha), which cancels to noise once exp(x) is far below 1.
    with np.errstate(under="ignore"):
        slope = alpha * np.exp(np.minimum(x, 0))
    return np.where(x > 0, dout, dout * slope)


@differentiable("x")
def gelu_forward(x):
    """GELU, exact form: x * Phi(x), Phi the standard normal cdf, via erf.

    Hendrycks and Gimpel 2016, "Gaussian Error Linear Units (GELUs)"; this is
    ``torch.nn.functional.gelu(x, approximate='none')``. See `gelu_tanh_forward` for the
    tanh approximation.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : x, for `gelu_backward`
    """
    x = _input(x)
    return x * _normal_cdf(x), x


@backward_of(gelu_forward)
def gelu_backward(dout, cache):
    """Backward pass of `gelu_forward`: dx = dout * (Phi(x) + x * phi(x)).

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `gelu_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    x = cache
    # exp(-x**2 / 2) underflows to 0 for |x| > ~39, which is the correct value, and x**2
    # overflows to inf beyond 1.8e19 (float32), where exp(-inf) = 0 is correct too.
    with np.errstate(under="ignore", over="ignore"):
        density = INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return dout * (_normal_cdf(x) + x * density)


def _normal_cdf(x):
    # Imported here: scipy.special takes longer to import than the rest of the library,
    # and only GELU needs it.
    from scipy.special import erf

    return 0.5 * (1 + erf(x / SQRT_2))


@differentiable("x")
def gelu_tanh_forward(x):
    """GELU, tanh approximation: x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x**3))).

    The approximation of Hendrycks and Gimpel 2016 (used by GPT-2 and BERT);
    ``torch.nn.functional.gelu(x, approximate='tanh')``. It differs from the exact
    `gelu_forward` by less than 5e-4.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : (x, s) for `gelu_tanh_backward`, s = (1 + tanh(u)) / 2 = sigmoid(2u)
    """
    x = _input(x)
    # (1 + tanh(u)) / 2 as sigmoid(2u): for negative x, 1 + tanh(u) cancels (float32 lost
    # 1% at x = -4.5), while the stable sigmoid keeps full relative precision. x**3
    # overflows to +-inf beyond 7e12 (float32), where sigmoid(+-inf) = 1 or 0 is exact.
    with np.errstate(over="ignore"):
        u2 = 2 * GELU_TANH_C * (x + GELU_TANH_K * x ** 3)
    s = _numerics.sigmoid(u2)
    return x * s, (x, s)


@backward_of(gelu_tanh_forward)
def gelu_tanh_backward(dout, cache):
    """Backward pass of `gelu_tanh_forward` (formula in the module docstring).

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `gelu_tanh_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    x, s = cache
    # The second term is 2 t c (1 + 3 k x**2) with t = x s (1 - s), multiplied out as
    # 2 c (t + 3 k (t x) x): s (1 - s) is exactly 0 long before x**2 overflows (|x| > 20
    # or so), and t x stays finite where c (1 + 3 k x**2) alone would be inf (0 * inf is
    # NaN).
    t = x * s * (1 - s)
    return dout * (s + 2 * GELU_TANH_C * (t + 3 * GELU_TANH_K * (t * x) * x))


@differentiable("x")
def silu_forward(x):
    """SiLU, x * sigmoid(x): swish with beta = 1.

    Elfwing, Uchibe and Doya 2018 (SiLU); Ramachandran, Zoph and Le 2017 (swish);
    ``torch.nn.functional.silu``.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : (x, sigmoid(x)) for `silu_backward`
    """
    x = _input(x)
    s = _numerics.sigmoid(x)
    return x * s, (x, s)


@backward_of(silu_forward)
def silu_backward(dout, cache):
    """Backward pass of `silu_forward`: dx = dout * s * (1 + x * (1 - s)).

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `silu_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    x, s = cache
    return dout * s * (1 + x * (1 - s))


@differentiable("x")
def sigmoid_forward(x):
    """Logistic sigmoid 1 / (1 + exp(-x)), computed without overflow for any x.

    One gate for the four it is made of (multiply by -1, exp, add 1, reciprocal): the
    "gate merging" of the notes.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray of x's shape and dtype, in [0, 1]
    cache : out, for `sigmoid_backward`

    Examples
    --------
    >>> sigmoid_forward(np.array([0.0, 1e4, -1e4]))[0]
    array([0.5, 1. , 0. ])
    """
    x = _input(x)
    out = _numerics.sigmoid(x)
    return out, out


@backward_of(sigmoid_forward)
def sigmoid_backward(dout, cache):
    """Backward pass of `sigmoid_forward`: dx = dout * y * (1 - y).

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `sigmoid_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    y = cache
    return dout * y * (1 - y)


@differentiable("x")
def tanh_forward(x):
    """Hyperbolic tangent.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray of x's shape and dtype, in [-1, 1]
    cache : out, for `tanh_backward`
    """
    x = _input(x)
    out = np.tanh(x)
    return out, out


@backward_of(tanh_forward)
def tanh_backward(dout, cache):
    """Backward pass of `tanh_forward`: dx = dout * (1 - y**2).

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `tanh_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    y = cache
    return dout * (1 - y * y)


@differentiable("x")
def softplus_forward(x):
    """Softplus log(1 + exp(x)), computed without overflow for any x.

    PyTorch's ``softplus`` returns x itself above ``threshold=20``; this one is
    log(1 + exp(x)) everywhere, which differs from x by about exp(-x) there.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray of x's shape and dtype, positive
    cache : x, for `softplus_backward`
    """
    x = _input(x)
    return _numerics.softplus(x), x


@backward_of(softplus_forward)
def softplus_backward(dout, cache):
    """Backward pass of `softplus_forward`: dx = dout * sigmoid(x).

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `softplus_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    x = cache
    return dout * _numerics.sigmoid(x)


@differentiable("x")
def softmax_forward(x):
    """Softmax over the last axis, exp(x) / sum(exp(x)), shifted by the max for stability.

    Parameters
    ----------
    x : ndarray of shape (..., C), float32 or float64
        Scores; each slice along the last axis is normalized separately.

    Returns
    -------
    out : ndarray of x's shape and dtype; positive, summing to 1 along the last axis
    cache : out, for `softmax_backward`

    Examples
    --------
    >>> softmax_forward(np.array([0.0, np.log(3.0)]))[0]
    array([0.25, 0.75])
    """
    check = Args()
    x = check.floats("x", x, "... C")
    if x.shape[-1] == 0:
        raise check.error(f"x must have C >= 1 entries along its last axis (a softmax over "
                          f"no classes is undefined); got x.shape = {x.shape}")
    out = _numerics.softmax(x, axis=-1)
    return out, out


@backward_of(softmax_forward)
def softmax_backward(dout, cache):
    """Backward pass of `softmax_forward`: dx = y * (dout - sum(dout * y, axis=-1)).

    This is dout times the Jacobian dy_i/dx_k = y_i (delta_ik - y_k), without forming it.

    Parameters
    ----------
    dout : ndarray of x's shape (..., C), upstream gradient
    cache : from `softmax_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    y = cache
    return y * (dout - np.sum(dout * y, axis=-1, keepdims=True))


# -- registration ---------------------------------------------------------------------------

def _shape(rng):
    return dims(rng, (1, 3), (1, 5))


@register(relu_forward, relu_backward)
def relu_example(rng, dtype):
    return (away_from(rng, _shape(rng), dtype),)


@register(leaky_relu_forward, leaky_relu_backward)
def leaky_relu_example(rng, dtype):
    alpha = float(rng.uniform(0.01, 0.3))
    return Example((away_from(rng, _shape(rng), dtype),), {"alpha": alpha})


@register(elu_forward, elu_backward)
def elu_example(rng, dtype):
    # alpha != 1 puts a kink at 0 (the slopes 1 and alpha meet there): keep away from it.
    alpha = float(rng.uniform(0.5, 2.0))
    return Example((away_from(rng, _shape(rng), dtype, scale=2.0),), {"alpha": alpha})


@register(gelu_forward, gelu_backward)
def gelu_example(rng, dtype):
    return (normal(rng, _shape(rng), dtype, scale=2.0),)


@register(gelu_tanh_forward, gelu_tanh_backward)
def gelu_tanh_example(rng, dtype):
    return (normal(rng, _shape(rng), dtype, scale=2.0),)


@register(silu_forward, silu_backward)
def silu_example(rng, dtype):
    return (normal(rng, _shape(rng), dtype, scale=2.0),)


@register(sigmoid_forward, sigmoid_backward)
def sigmoid_example(rng, dtype):
    return (normal(rng, _shape(rng), dtype, scale=2.0),)


@register(tanh_forward, tanh_backward)
def tanh_example(rng, dtype):
    return (normal(rng, _shape(rng), dtype),)


@register(softplus_forward, softplus_backward)
def softplus_example(rng, dtype):
    return (normal(rng, _shape(rng), dtype, scale=2.0),)


@register(softmax_forward, softmax_backward)
def softmax_example(rng, dtype):
    batch = [(), (2,), (2, 3)][rng.integers(3)]
    return (normal(rng, batch + dims(rng, (1, 5)), dtype),)
