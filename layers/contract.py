"""Argument checks shared by every layer.

One place decides what a layer accepts and how a refusal reads. Every message names the
function, the argument, what was expected and what was received::

    affine_forward: w must have shape (D, M) with D = 12 from x; got w.shape = (10, 5)

Shapes are written as small specs, one token per axis: a name binds a dimension the first
time it is seen and must agree afterwards (across arguments), an integer fixes a size, and
``...`` stands for any number of axes (at most once)::

    check = Args("batchnorm_forward")
    x = check.floats("x", x, "N D")
    gamma = check.floats("gamma", gamma, "D")   # must match x's D
"""

import math
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def describe(value):
    """A short description of a value for an error message: type, dtype and shape."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    if isinstance(value, np.generic):
        return f"NumPy {value.dtype} scalar"
    return type(value).__name__


def format_shape(tokens):
    inner = ", ".join(tokens)
    return f"({inner},)" if len(tokens) == 1 else f"({inner})"


def is_float_array(value):
    """True for the values the layer contract gives a gradient: float32/float64 arrays."""
    return isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype in FLOAT_DTYPES


class Args:
    """Validates the arguments of one call of `func` and binds named dimensions across them.

    Parameters
    ----------
    func : str
        The public name of the function being called; every message starts with it.
    """

    def __init__(self, func):
        self.func = func
        self.dims = {}
        self.dtype = None
        self.dtype_source = None

    def error(self, message, kind=ValueError):
        return kind(f"{self.func}: {message}")

    # -- dimensions -----------------------------------------------------------------------

    def bind(self, symbol, size, source):
        """Bind dimension `symbol` to `size`, as read from `source` (for messages)."""
        if symbol in self.dims and self.dims[symbol][0] != size:
            known, known_source = self.dims[symbol]
            raise self.error(f"{source} gives {symbol} = {size}, but {symbol} = {known} "
                             f"from {known_source}")
        self.dims.setdefault(symbol, (size, source))

    def dim(self, symbol):
        return self.dims[symbol][0]

    def shape(self, name, value, spec):
        """Check `value.shape` against `spec` (see the module docstring); bind its names."""
        tokens = spec.split()
        shape = value.shape
        if "..." in tokens:
            cut = tokens.index("...")
            head, tail = tokens[:cut], tokens[cut + 1:]
            fixed = len(head) + len(tail)
            if len(shape) < fixed:
                raise self.error(f"{name} must have at least {fixed} dimension"
                                 f"{'s' * (fixed != 1)}, shape "
                                 f"{format_shape(tokens)}; got {name}.shape = {shape}")
            pairs = list(zip(head, shape)) + list(zip(tail, shape[len(shape) - len(tail):]))
        else:
            if len(shape) != len(tokens):
                raise self.error(f"{name} must be a {len(tokens)}-d array of shape "
                                 f"{format_shape(tokens)}; got {name}.shape = {shape}")
            pairs = list(zip(tokens, shape))
        bound = {}  # the named dimensions already known, each listed once
        mismatch = False
        for token, size in pairs:
            if token.isdigit():
                mismatch |= int(token) != size
            elif token in self.dims:
                known, source = self.dims[token]
                bound[token] = f"{token}={known} from {source}"
                mismatch |= known != size
        if mismatch:
            with_known = f" with {', '.join(bound.values())}" if bound else ""
            raise self.error(f"{name} must have shape {format_shape(tokens)}{with_known}; "
                             f"got {name}.shape = {shape}")
        for token, size in pairs:
            if not token.isdigit():
                self.bind(token, size, name)

    # -- arrays ---------------------------------------------------------------------------

    def floats(self, name, value, spec=None, *, scalar_ok=False):
        """A float32/float64 array argument, of one dtype with the call's other float arrays.

        With `scalar_ok`, a Python int or float is accepted as a constant and returned as
        it is (NumPy gives it the dtype of the arrays it meets); it gets no gradient.
        """
        if scalar_ok and isinstance(value, numbers.Real) and not isinstance(
                value, (np.generic, bool)):
            return value
        if not isinstance(value, (np.ndarray, np.generic)):
            raise self.error(f"{name} must be a NumPy floating-point array (float32 or "
                             f"float64); got {describe(value)}", TypeError)
        array = np.asarray(value)
        if array.dtype not in FLOAT_DTYPES:
            raise self.error(f"{name} must be a floating-point array (float32 or float64); "
                             f"got {describe(value)}", TypeError)
        if self.dtype is None:
            self.dtype, self.dtype_source = array.dtype, name
        elif array.dtype != self.dtype:
            raise self.error(f"{name} is {array.dtype} but {self.dtype_source} is "
                             f"{self.dtype}; pass floating arrays of one dtype", TypeError)
        if spec is not None:
            self.shape(name, array, spec)
        return array

    def ints(self, name, value, spec=None, *, low=0, high=None, high_name=None):
        """An integer array argument (labels, indices) with values in [low, high)."""
        if not isinstance(value, (np.ndarray, np.generic)) or not np.issubdtype(
                np.asarray(value).dtype, np.integer):
            raise self.error(f"{name} must be an integer array; got {describe(value)}",
                             TypeError)
        array = np.asarray(value)
        if spec is not None:
            self.shape(name, array, spec)
        if array.size:
            smallest, largest = array.min(), array.max()
            if smallest < low or (high is not None and largest >= high):
                bound = f"[{low}, {high_name or ''}{'=' if high_name else ''}{high})" \
                    if high is not None else f">= {low}"
                raise self.error(f"{name} must hold values in {bound}; got values from "
                                 f"{smallest} to {largest}")
        return array

    def bools(self, name, value, spec=None):
        """A boolean array argument (a mask); it gets no gradient."""
        if not isinstance(value, (np.ndarray, np.generic)) or np.asarray(value).dtype != bool:
            raise self.error(f"{name} must be a boolean array; got {describe(value)}",
                             TypeError)
        array = np.asarray(value)
        if spec is not None:
            self.shape(name, array, spec)
        return array

    # -- options --------------------------------------------------------------------------

    def mapping(self, name, value):
        """A parameter dict (bn_param, dropout_param, ...)."""
        if not isinstance(value, dict):
            raise self.error(f"{name} must be a dict; got {describe(value)}", TypeError)
        return value

    def choice(self, name, value, choices):
        if value not in choices:
            listed = " or ".join(repr(c) for c in choices)
            raise self.error(f"{name} must be {listed}; got {value!r}")
        return value

    def number(self, name, value, *, low=None, high=None, low_open=False, high_open=False):
        """A finite real number, optionally bounded: [low, high] (or open at either end).

        Returned as a Python float: a NumPy float64 scalar (from ``np.linspace``, say)
        would otherwise turn a float32 layer's output into float64.
        """
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise self.error(f"{name} must be a real number; got {describe(value)}",
                             TypeError)
        if not math.isfinite(value):
            raise self.error(f"{name} must be a finite number; got {value!r}")
        value = float(value)
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            left = "(" if low_open else "["
            right = ")" if high_open else "]"
            bound = f"{left}{'-inf' if low is None else low}, " \
                    f"{'inf' if high is None else high}{right}"
            raise self.error(f"{name} must be in {bound}; got {value!r}")
        return value

    def integer(self, name, value, *, low=None):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise self.error(f"{name} must be an integer; got {describe(value)}", TypeError)
        if low is not None and value < low:
            raise self.error(f"{name} must be >= {low}; got {value}")
        return int(value)


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


def broadcast_shapes(check, names, values):
    """The broadcast shape of `values`, or a clear error naming the arguments."""
    shapes = [np.shape(v) for v in values]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = ", ".join(f"{n}.shape = {s}" for n, s in zip(names, shapes))
        raise check.error(f"{' and '.join(names)} must broadcast together; got {listed}") \
            from None


def upstream(func, dout, shape, dtype, name="dout"):
    """The upstream gradient of a backward call: a float array in the forward's output shape.

    It is cast to the forward's dtype, so that every gradient keeps its argument's dtype.
    """
    if not isinstance(dout, (np.ndarray, np.generic, numbers.Real)) or isinstance(dout, bool):
        raise TypeError(f"{func}: {name} must be a floating-point array; got "
                        f"{describe(dout)}")
    array = np.asarray(dout)
    if not np.issubdtype(array.dtype, np.floating) and not isinstance(dout, numbers.Real):
        raise TypeError(f"{func}: {name} must be a floating-point array; got "
                        f"{describe(dout)}")
    if array.shape != tuple(shape):
        raise ValueError(f"{func}: {name} must have the shape of the forward output "
                         f"{tuple(shape)}; got {name}.shape = {array.shape}")
    return array.astype(dtype, copy=False)
