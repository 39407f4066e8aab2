"""Gates: the circuit pieces of backpropagation, each a forward/backward pair.

A gate's backward multiplies the upstream gradient by the gate's local derivative
(CS231n, "Backpropagation, Intuitions")::

    add        out = x + y           dx = dout               dy = dout
    subtract   out = x - y           dx = dout               dy = -dout
    multiply   out = x * y           dx = dout * y           dy = dout * x
    divide     out = x / y           dx = dout / y           dy = -dout * x / y**2
    maximum    out = max(x, y)       dout goes to the larger input, halved on a tie
    exp        out = exp(x)          dx = dout * out
    log        out = log(x)          dx = dout / x
    power      out = x**p            dx = dout * p * x**(p - 1)
    sum        out = sum over axes   dx = dout copied back along the summed axes
    mean       out = sum / count     dx = dout / count copied back
    matmul     out = a @ b           da = dout @ b^T         db = a^T @ dout

The intuitions of the notes: add distributes the upstream gradient unchanged, multiply
swaps (each input gets dout times the other input), maximum routes dout to the input
that won.

Binary gates broadcast like NumPy. An argument that broadcasting copied to several places
of the output fed all of them, so its gradient is the sum over those places (the fan-out
rule; `unbroadcast` does the summing). Matmul's batch axes broadcast the same way.

A Python int or float in a binary gate is a constant: it is used as it is and gets no
gradient, so ``multiply_forward(x, 3.0)``'s backward returns a bare ``dx``. NumPy arrays,
0-d arrays and NumPy float scalars are variables and get a gradient of their own shape.
At least one argument must be a NumPy array.
"""

import math
import numbers
from functools import partial

import numpy as np

from ._examples import away_from, dims, normal
from .contract import (
    Args, backward_of, broadcast_shapes, describe, differentiable,
)
from .registry import Example, register

__all__ = [
    "add_forward", "add_backward",
    "subtract_forward", "subtract_backward",
    "multiply_forward", "multiply_backward",
    "divide_forward", "divide_backward",
    "maximum_forward", "maximum_backward",
    "exp_forward", "exp_backward",
    "log_forward", "log_backward",
    "power_forward", "power_backward",
    "sum_forward", "sum_backward",
    "mean_forward", "mean_backward",
    "matmul_forward", "matmul_backward",
]


# -- binary elementwise gates ---------------------------------------------------------------

def _binary_inputs(x, y):
    """The operands of a binary gate, validated: float arrays or Python-number constants."""
    check = Args()
    x = check.floats("x", x, scalar_ok=True)
    y = check.floats("y", y, scalar_ok=True)
    if not isinstance(x, np.ndarray) and not isinstance(y, np.ndarray):
        raise check.error(f"at least one of x and y must be a NumPy floating-point array; "
                          f"got {describe(x)} and {describe(y)}", TypeError)
    broadcast_shapes(check, ("x", "y"), (x, y))
    return x, y


def unbroadcast(grad, shape):
    """Sum `grad` over the axes that broadcasting added or stretched, down to `shape`.

    The gradient of a broadcast argument is the sum of the upstream gradient over every
    position the argument was copied to.
    """
    grad = np.asarray(grad)
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    summed = grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and summed.shape[i] != 1)
    if stretched:
        summed = summed.sum(axis=stretched, keepdims=True)
    return summed.reshape(shape)


def _gradients(dout, x, dx, y, dy):
    """The contract's return value: each array operand's gradient, summed to its shape.

    A Python-number operand is a constant and gets none; with one array operand the
    gradient is returned bare. A gradient that is `dout` itself (add, subtract) is
    copied: CS231n-style code accumulates into gradients (``dx += ...``), which must
    write neither into the caller's dout nor into the other operand's gradient.
    """
    grads = []
    for arg, grad in ((x, dx), (y, dy)):
        if isinstance(arg, np.ndarray):
            grad = np.asarray(unbroadcast(grad, arg.shape))
            grads.append(grad.copy() if np.may_share_memory(grad, dout) else grad)
    return grads[0] if len(grads) == 1 else tuple(grads)


@differentiable("x", "y", numbers_are_constants=True)
def add_forward(x, y):
    """Elementwise x + y, with NumPy broadcasting.

    Parameters
    ----------
    x, y : ndarray (float32 or float64, one dtype) or Python number
        Shapes that broadcast together; a Python number is a constant (no gradient). At
        least one of them is an array.

    Returns
    -------
    out : ndarray of the broadcast shape, the dtype of the array operands
    cache : for `add_backward`

    Examples
    --------
    >>> add_forward(np.array([1.0, 2.0]), 0.5)[0]
    array([1.5, 2.5])
    """
    x, y = _binary_inputs(x, y)
    out = np.asarray(x + y)
    return out, (x, y)


@backward_of(add_forward)
def add_backward(dout, cache):
    """Backward pass of `add_forward`: both inputs receive dout, summed to their shapes.

    Parameters
    ----------
    dout : ndarray of the output's shape, upstream gradient
    cache : from `add_forward`

    Returns
    -------
    dx, dy : ndarrays of the shapes of x and y; only the array operands get one (a bare
        array when only one of them is an array)
    """
    x, y = cache
    return _gradients(dout, x, dout, y, dout)


@differentiable("x", "y", numbers_are_constants=True)
def subtract_forward(x, y):
    """Elementwise x - y, with NumPy broadcasting.

    Parameters
    ----------
    x, y : ndarray (float32 or float64, one dtype) or Python number
        Shapes that broadcast together; a Python number is a constant (no gradient).

    Returns
    -------
    out : ndarray of the broadcast shape
    cache : for `subtract_backward`
    """
    x, y = _binary_inputs(x, y)
    out = np.asarray(x - y)
    return out, (x, y)


@backward_of(subtract_forward)
def subtract_backward(dout, cache):
    """Backward pass of `subtract_forward`: dx = dout, dy = -dout, summed to their shapes.

    Parameters
    ----------
    dout : ndarray of the output's shape, upstream gradient
    cache : from `subtract_forward`

    Returns
    -------
    dx, dy : ndarrays of the shapes of x and y (array operands only)
    """
    x, y = cache
    return _gradients(dout, x, dout, y, -dout)


@differentiable("x", "y", numbers_are_constants=True)
def multiply_forward(x, y):
    """Elementwise x * y, with NumPy broadcasting.

    Parameters
    ----------
    x, y : ndarray (float32 or float64, one dtype) or Python number
        Shapes that broadcast together; a Python number is a constant (no gradient).

    Returns
    -------
    out : ndarray of the broadcast shape
    cache : for `multiply_backward`

    Examples
    --------
    >>> out, cache = multiply_forward(np.array([1.0, -2.0]), 3.0)
    >>> multiply_backward(np.array([1.0, 1.0]), cache)   # the constant gets no gradient
    array([3., 3.])
    """
    x, y = _binary_inputs(x, y)
    out = np.asarray(x * y)
    return out, (x, y)


@backward_of(multiply_forward)
def multiply_backward(dout, cache):
    """Backward pass of `multiply_forward`: each input gets dout times the other one.

    Parameters
    ----------
    dout : ndarray of the output's shape, upstream gradient
    cache : from `multiply_forward`

    Returns
    -------
    dx, dy : ndarrays of the shapes of x and y (array operands only)
    """
    x, y = cache
    return _gradients(dout, x, dout * y, y, dout * x)


@differentiable("x", "y", numbers_are_constants=True)
def divide_forward(x, y):
    """Elementwise x / y, with NumPy broadcasting.

    The domain is y != 0; values are not checked element by element (NumPy gives inf or
    NaN with a RuntimeWarning).

    Parameters
    ----------
    x, y : ndarray (float32 or float64, one dtype) or Python number
        Shapes that broadcast together; a Python number is a constant (no gradient), so
        ``divide_forward(1.0, y)`` is the reciprocal gate.

    Returns
    -------
    out : ndarray of the broadcast shape
    cache : for `divide_backward`
    """
    x, y = _binary_inputs(x, y)
    out = np.asarray(x / y)
    return out, (x, y)


@backward_of(divide_forward)
def divide_backward(dout, cache):
    """Backward pass of `divide_forward`: dx = dout / y, dy = -dout * x / y**2.

    Parameters
    ----------
    dout : ndarray of the output's shape, upstream gradient
    cache : from `divide_forward`

    Returns
    -------
    dx, dy : ndarrays of the shapes of x and y (array operands only)
    """
    x, y = cache
    dx = dout / y
    return _gradients(dout, x, dx, y, -dx * x / y)


@differentiable("x", "y", numbers_are_constants=True)
def maximum_forward(x, y):
    """Elementwise max(x, y), with NumPy broadcasting: "the router" of the notes.

    Backward sends the upstream gradient to the input that won and 0 to the other. On a
    tie (x == y) max is not differentiable; each input then gets half of the upstream
    gradient, as ``torch.maximum`` does. Any split (t, 1 - t) with 0 <= t <= 1 is a valid
    subgradient there; the half/half split is the symmetric one, and keeps
    ``maximum(x, x)`` (= x) with the gradient dout.

    Parameters
    ----------
    x, y : ndarray (float32 or float64, one dtype) or Python number
        Shapes that broadcast together; a Python number is a constant (no gradient).

    Returns
    -------
    out : ndarray of the broadcast shape
    cache : for `maximum_backward`

    Examples
    --------
    >>> out, cache = maximum_forward(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]))
    >>> maximum_backward(np.array([1.0, 1.0, 1.0]), cache)
    (array([0. , 0.5, 1. ]), array([1. , 0.5, 0. ]))
    """
    x, y = _binary_inputs(x, y)
    out = np.asarray(np.maximum(x, y))
    return out, (x, y)


@backward_of(maximum_forward)
def maximum_backward(dout, cache):
    """Backward pass of `maximum_forward`: dout to the winner, half to each on a tie.

    Parameters
    ----------
    dout : ndarray of the output's shape, upstream gradient
    cache : from `maximum_forward`

    Returns
    -------
    dx, dy : ndarrays of the shapes of x and y (array operands only)
    """
    x, y = cache
    tie_share = 0.5 * dout * (x == y)
    return _gradients(dout, x, dout * (x > y) + tie_share, y, dout * (y > x) + tie_share)


# -- unary elementwise gates ----------------------------------------------------------------

@differentiable("x")
def exp_forward(x):
    """Elementwise exp(x).

    It overflows to inf (with a RuntimeWarning) above about 709 in float64 and 88 in
    float32; use the stable layers (`sigmoid_forward`, `softmax_forward`, softplus) where
    an exp is part of a larger formula.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : out, for `exp_backward` (exp is its own derivative)
    """
    x = Args().floats("x", x)
    out = np.asarray(np.exp(x))
    return out, out


@backward_of(exp_forward)
def exp_backward(dout, cache):
    """Backward pass of `exp_forward`: dx = dout * exp(x).

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `exp_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    out = cache
    return dout * out


@differentiable("x")
def log_forward(x):
    """Elementwise natural logarithm.

    The domain is x > 0; values are not checked element by element (NumPy gives -inf at
    0 and NaN below it, with a RuntimeWarning).

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64, positive

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : x, for `log_backward`
    """
    x = Args().floats("x", x)
    return np.asarray(np.log(x)), x


@backward_of(log_forward)
def log_backward(dout, cache):
    """Backward pass of `log_forward`: dx = dout / x.

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `log_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    x = cache
    return dout / x


@differentiable("x")
def power_forward(x, p):
    """Elementwise x**p for a constant exponent p.

    The domain depends on p: every x for a non-negative integer p, x != 0 for a negative
    integer p, x > 0 (x >= 0 when p > 1) for a non-integer p. Values are not checked
    element by element.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64
    p : Python int or float
        The exponent, a constant: it gets no gradient. NumPy scalars are refused, because
        the layer contract gives NumPy float scalars a gradient.

    Returns
    -------
    out : ndarray of x's shape and dtype
    cache : (x, p) for `power_backward`

    Examples
    --------
    >>> power_forward(np.array([2.0, 3.0]), 2)[0]
    array([4., 9.])
    """
    check = Args()
    x = check.floats("x", x)
    if isinstance(p, (bool, np.generic)) or not isinstance(p, numbers.Real):
        raise check.error(f"p must be a Python int or float (a constant exponent, which "
                          f"gets no gradient); got {describe(p)}", TypeError)
    return np.asarray(x ** p), (x, p)


@backward_of(power_forward)
def power_backward(dout, cache):
    """Backward pass of `power_forward`: dx = dout * p * x**(p - 1).

    Parameters
    ----------
    dout : ndarray of x's shape, upstream gradient
    cache : from `power_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    x, p = cache
    if p == 0:
        # x**0 is the constant 1; x**(-1) would divide by zero at x = 0 for nothing.
        return np.zeros_like(dout)
    return dout * p * x ** (p - 1)


# -- reductions -----------------------------------------------------------------------------

def _reduce(reduction, x, axis, keepdims, averages=False):
    """A reduction's forward: ``reduction(x, axis, keepdims)`` as a 0-d or larger array.

    A reduction that `averages` refuses to average over no elements (its value would be
    NaN): a mean over an empty batch axis is an error, as it is for the losses.
    """
    check = Args()
    x = check.floats("x", x)
    keepdims = check.flag("keepdims", keepdims)
    axes = _axes(check, axis, x)
    if averages and math.prod(x.shape[a] for a in axes) == 0:
        raise check.error(f"x has no elements to average along axis {axes} (a mean of "
                          f"nothing is undefined); got x.shape = {x.shape}")
    out = np.asarray(reduction(x, axis=axes, keepdims=keepdims))
    return out, (x.shape, x.dtype, axes, keepdims)


def _axes(check, axis, x):
    """`axis` of a reduction of x, as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(x.ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    if not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
        raise check.error(f"axis must be None, an int or a tuple of ints; got {axis!r}",
                          TypeError)
    outside = [a for a in axes if not -x.ndim <= a < x.ndim]
    if outside:
        raise check.error(f"axis {outside[0]} is out of range for x of {x.ndim} dimensions; "
                          f"got axis = {axis!r} and x.shape = {x.shape}")
    normalized = sorted(int(a) % x.ndim for a in axes)
    if len(set(normalized)) != len(normalized):
        raise check.error(f"axis must not name an axis twice; got axis = {axis!r} for x of "
                          f"{x.ndim} dimensions")
    return tuple(normalized)


def _spread(dout, cache):
    """dout copied back along the reduced axes: the gradient of a sum, in x's shape."""
    shape, dtype, axes, keepdims = cache
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    return np.broadcast_to(dout.reshape(kept), shape).copy()


@differentiable("x")
def sum_forward(x, *, axis=None, keepdims=False):
    """Sum of x over `axis`, as ``np.sum``.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64
    axis : None, int or tuple of ints, keyword-only
        Axes to sum over; None sums over all of them.
    keepdims : bool, keyword-only
        Keep the summed axes with size 1.

    Returns
    -------
    out : ndarray of x's shape without (or with size 1 along) the summed axes, x's dtype;
        a 0-d array for a full sum
    cache : for `sum_backward`

    Examples
    --------
    >>> sum_forward(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)[0]
    array([4., 6.])
    """
    return _reduce(np.sum, x, axis, keepdims)


@backward_of(sum_forward)
def sum_backward(dout, cache):
    """Backward pass of `sum_forward`: every summed element receives its sum's dout.

    Parameters
    ----------
    dout : ndarray of the output's shape, upstream gradient
        (x's shape without, or with size 1 along, the summed axes)
    cache : from `sum_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    return _spread(dout, cache)


@differentiable("x")
def mean_forward(x, *, axis=None, keepdims=False):
    """Mean of x over `axis`, as ``np.mean``.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64
    axis : None, int or tuple of ints, keyword-only
        Axes to average over; None averages over all of them.
    keepdims : bool, keyword-only
        Keep the averaged axes with size 1.

    Returns
    -------
    out : ndarray of x's shape without (or with size 1 along) the averaged axes, x's
        dtype; a 0-d array for a full mean
    cache : for `mean_backward`
    """
    return _reduce(np.mean, x, axis, keepdims, averages=True)


@backward_of(mean_forward)
def mean_backward(dout, cache):
    """Backward pass of `mean_forward`: each averaged element receives dout / count.

    Parameters
    ----------
    dout : ndarray of the output's shape, upstream gradient
        (x's shape without, or with size 1 along, the averaged axes)
    cache : from `mean_forward`

    Returns
    -------
    dx : ndarray of x's shape and dtype
    """
    shape, _, axes, _ = cache
    count = 1
    for axis in axes:
        count *= shape[axis]
    return _spread(dout, cache) / count


# -- matrix product -------------------------------------------------------------------------

@differentiable("a", "b")
def matmul_forward(a, b):
    """Matrix product a @ b with ``np.matmul`` semantics.

    2-D operands multiply as matrices. A 1-D ``a`` is a row vector and a 1-D ``b`` a
    column vector, whose added axis is removed from the result. Operands of more than two
    dimensions are stacks of matrices over their leading (batch) axes, which broadcast.

    Parameters
    ----------
    a : ndarray of shape (..., N, K) or (K,), float32 or float64
    b : ndarray of shape (..., K, M) or (K,), a's dtype

    Returns
    -------
    out : ndarray of shape (..., N, M), the batch axes broadcast; without N when a is
        1-D and without M when b is 1-D (a 0-d array for two vectors)
    cache : (a, b) for `matmul_backward`

    Examples
    --------
    >>> matmul_forward(np.array([1.0, 2.0]), np.array([[1.0, 0.0], [0.0, 1.0]]))[0]
    array([1., 2.])
    """
    check = Args()
    a = check.floats("a", a)
    b = check.floats("b", b)
    for name, value in (("a", a), ("b", b)):
        if value.ndim == 0:
            raise check.error(f"{name} must have at least one dimension (use "
                              f"multiply_forward for scalars); got {name}.shape = ()")
    rows_of_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != rows_of_b:
        b_axis = "only" if b.ndim == 1 else "second-to-last"
        raise check.error(f"inner dimensions must agree: a's last axis has "
                          f"{a.shape[-1]} entries and b's {b_axis} axis has {rows_of_b}; got "
                          f"a.shape = {a.shape} and b.shape = {b.shape}")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise check.error(f"the batch axes of a and b must broadcast together: "
                          f"{a.shape[:-2]} and {b.shape[:-2]}; got a.shape = {a.shape} and "
                          f"b.shape = {b.shape}") from None
    return np.asarray(np.matmul(a, b)), (a, b)


@backward_of(matmul_forward)
def matmul_backward(dout, cache):
    """Backward pass of `matmul_forward`: da = dout @ b^T, db = a^T @ dout.

    1-D operands are treated as a row (a) or column (b) matrix, and the batch axes that
    broadcasting added or stretched are summed away.

    Parameters
    ----------
    dout : ndarray of the output's shape (..., N, M), upstream gradient
    cache : from `matmul_forward`

    Returns
    -------
    da : ndarray of a's shape and dtype
    db : ndarray of b's shape and dtype
    """
    a, b = cache
    a2 = a[np.newaxis, :] if a.ndim == 1 else a  # (1, K): a row
    b2 = b[:, np.newaxis] if b.ndim == 1 else b  # (K, 1): a column
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    # Put back the axes that forward removed for 1-D operands: dout as (..., N, M).
    dout = dout.reshape(batch + a2.shape[-2:-1] + b2.shape[-1:])
    da = unbroadcast(dout @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
    db = unbroadcast(np.swapaxes(a2, -1, -2) @ dout, b2.shape).reshape(b.shape)
    return da, db


# -- registration ---------------------------------------------------------------------------

def _operands(rng, dtype, make_x=normal, make_y=normal):
    """x and y of shapes that broadcast in varied ways, y sometimes a Python constant.

    ``make_x(rng, shape, dtype)`` and `make_y` draw the values.
    """
    n, m = dims(rng, (1, 3), (1, 4))
    x_shapes = [(n, m), (n, 1), (m,)]
    y_shapes = [(n, m), (1, m), (m,), (n, 1), (), "constant"]
    x = make_x(rng, x_shapes[rng.integers(len(x_shapes))], dtype)
    y_shape = y_shapes[rng.integers(len(y_shapes))]
    if y_shape == "constant":
        return x, float(make_y(rng, (), np.float64))
    return x, make_y(rng, y_shape, dtype)


def _grid(offset):
    """Draws of k + offset + [0, 0.3) for integers k in [-3, 3]."""
    def make(rng, shape, dtype):
        return (rng.integers(-3, 4, shape) + offset + 0.3 * rng.random(shape)).astype(dtype)
    return make


@register(add_forward, add_backward)
def add_example(rng, dtype):
    return _operands(rng, dtype)


@register(subtract_forward, subtract_backward)
def subtract_example(rng, dtype):
    return _operands(rng, dtype)


@register(multiply_forward, multiply_backward)
def multiply_example(rng, dtype):
    return _operands(rng, dtype)


@register(divide_forward, divide_backward)
def divide_example(rng, dtype):
    # |y| >= 0.25 keeps 1/y and x/y**2 moderate, so central differences are accurate.
    return _operands(rng, dtype, make_y=partial(away_from, margin=0.25))


@register(maximum_forward, maximum_backward)
def maximum_example(rng, dtype):
    # x - y is an integer minus 0.5, plus at most 0.3 either way: every pair, after
    # broadcasting, differs by at least 0.2, far from max's kink at x == y.
    return _operands(rng, dtype, make_x=_grid(0.0), make_y=_grid(0.5))


@register(exp_forward, exp_backward)
def exp_example(rng, dtype):
    return (normal(rng, dims(rng, (1, 3), (1, 4)), dtype),)


@register(log_forward, log_backward)
def log_example(rng, dtype):
    # log's domain is x > 0; exp of a normal draw spans about 0.1 to 10.
    return (np.exp(normal(rng, dims(rng, (1, 3), (1, 4)), dtype)),)


@register(power_forward, power_backward)
def power_example(rng, dtype):
    p = [2, 3, -1, 0.5, 1.5, -2.5][rng.integers(6)]
    x = np.abs(normal(rng, dims(rng, (1, 3), (1, 4)), np.float64)) + 0.5
    if float(p).is_integer():
        # Integer powers take negative x too; keep |x| >= 0.5 for the negative ones.
        x = x * rng.choice([-1.0, 1.0], size=x.shape)
    return x.astype(dtype), p


@register(sum_forward, sum_backward)
def sum_example(rng, dtype):
    return _reduction_example(rng, dtype)


@register(mean_forward, mean_backward)
def mean_example(rng, dtype):
    return _reduction_example(rng, dtype)


def _reduction_example(rng, dtype):
    x = normal(rng, dims(rng, (1, 3), (1, 3), (1, 4)), dtype)
    axis = [None, 0, -1, (0, 2), (1,)][rng.integers(5)]
    return Example((x,), {"axis": axis, "keepdims": bool(rng.integers(2))})


@register(matmul_forward, matmul_backward)
def matmul_example(rng, dtype):
    n, k, m, batch = dims(rng, (1, 3), (1, 4), (1, 3), (2, 3))
    a_shapes = [(n, k), (k,), (n, k), (k,), (batch, n, k), (batch, 1, n, k)]
    b_shapes = [(k, m), (k, m), (k,), (k,), (k, m), (2, k, m)]
    case = rng.integers(len(a_shapes))
    return normal(rng, a_shapes[case], dtype), normal(rng, b_shapes[case], dtype)
