"""Argument checks: what a layer accepts and how a refusal reads (`Args`).

Every message names the function, the argument, what was expected and what was
received::

    affine_forward: w must have shape (D, M) with D = 12 from x; got w.shape = (10, 5)

Inside a layer decorated with `layers.contract.differentiable`, ``Args()`` takes the
name of the layer the user called (a composite's inner layers report under the
composite's name, a fused loss's pair under the fused loss's: `named_as_called`);
elsewhere the name is passed: ``Args("Solver")``.

Shapes are written as small specs, one token per axis: a name binds a dimension the first
time it is seen and must agree afterwards (across arguments), an integer fixes a size, and
``...`` stands for any number of axes (at most once)::

    check = Args()
    x = check.floats("x", x, "N D")
    gamma = check.floats("gamma", gamma, "D")   # must match x's D
"""

import math
import numbers
from contextvars import ContextVar

import numpy as np

__all__ = ["Args", "FLOAT_DTYPES", "broadcast_shapes", "called_layer", "describe",
           "format_shape", "is_float_array"]

#: The name of the decorated layer the user called, while it runs (set by
#: `layers.contract.differentiable` and `layers.contract.named_as_called`); None outside
#: one.
called_layer = ContextVar("called_layer", default=None)

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
    func : str, optional
        The public name of the function being called; every message starts with it. By
        default the decorated layer the user called (`called_layer`).
    """

    def __init__(self, func=None):
        if func is None:
            func = called_layer.get()
            if func is None:
                raise TypeError("Args() outside a decorated layer needs the function's "
                                "name: Args('name')")
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
        new = {}    # the names this spec binds, with their sizes
        mismatch = False
        for token, size in pairs:
            if token.isdigit():
                mismatch |= int(token) != size
            elif token in self.dims:
                known, source = self.dims[token]
                bound[token] = f"{token}={known} from {source}"
                mismatch |= known != size
            else:
                mismatch |= new.setdefault(token, size) != size
        if mismatch:
            with_known = f" with {', '.join(bound.values())}" if bound else ""
            raise self.error(f"{name} must have shape {format_shape(tokens)}{with_known}; "
                             f"got {name}.shape = {shape}")
        for token, size in new.items():
            self.dims[token] = (size, name)

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

    def finite(self, name, array, *, minus_inf_ok=False):
        """Refuse NaN and +inf in the float array `array` (and -inf unless
        `minus_inf_ok`), naming the first such position: the rule of the losses."""
        if np.isfinite(array).all():
            return array
        bad = np.isinf(array)
        if minus_inf_ok:
            bad &= array > 0
        bad |= np.isnan(array)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            value = array[index]
            what = "NaN" if np.isnan(value) else "+inf" if value > 0 else "-inf"
            allowed = "finite values (or -inf, a class of probability 0)" if minus_inf_ok \
                else "finite values"
            raise self.error(f"{name} holds {what} at index {index}; only {allowed} are "
                             f"accepted (values that are not finite usually come from data "
                             f"that is not, or from a network that diverged)")
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

    def mapping(self, name, value, keys=None):
        """A parameter dict (bn_param, dropout_param, ...), with keys among `keys` if given.

        A misspelled key ('seeed') or one the layer does not have (a 'pad' in
        pool_param) would otherwise be ignored silently, and the layer would run with
        its default instead.
        """
        if not isinstance(value, dict):
            raise self.error(f"{name} must be a dict; got {describe(value)}", TypeError)
        unknown = [] if keys is None else sorted((k for k in value if k not in keys), key=str)
        if unknown:
            listed = ", ".join(repr(key) for key in unknown)
            raise self.error(f"{name} has unexpected key{'s' if len(unknown) > 1 else ''} "
                             f"{listed}; allowed keys are {', '.join(map(repr, keys))}")
        return value

    def choice(self, name, value, choices):
        # Compared only with values of the choices' own types: an array would answer
        # `==` elementwise, with no truth value.
        if not any(isinstance(value, type(c)) and value == c for c in choices):
            listed = " or ".join(repr(c) for c in choices)
            if value is None or isinstance(value, tuple(type(c) for c in choices)):
                raise self.error(f"{name} must be {listed}; got {value!r}")
            raise self.error(f"{name} must be {listed}; got {describe(value)}", TypeError)
        return value

    def flag(self, name, value):
        """A bool option, Python's or NumPy's, as a Python bool."""
        if not isinstance(value, (bool, np.bool_)):
            raise self.error(f"{name} must be True or False; got {describe(value)}",
                             TypeError)
        return bool(value)

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

    def eps(self, name, value, dtype):
        """A positive number added to a variance computed in `dtype`, which must stay
        positive there: an eps that rounds to 0 in `dtype` would divide by zero for a
        constant feature."""
        value = self.number(name, value, low=0, low_open=True)
        dtype = np.dtype(dtype)
        with np.errstate(over="ignore", under="ignore"):
            rounded = dtype.type(value)
        if rounded == 0:
            raise self.error(f"{name} = {value!r} is 0 in {dtype} (it underflows); use at "
                             f"least {np.finfo(dtype).smallest_subnormal}, the smallest "
                             f"positive {dtype}")
        if np.isinf(rounded):
            raise self.error(f"{name} = {value!r} is inf in {dtype} (it overflows); use at "
                             f"most {np.finfo(dtype).max}")
        return value


def broadcast_shapes(check, names, values):
    """The broadcast shape of `values`, or a clear error naming the arguments."""
    shapes = [np.shape(v) for v in values]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = ", ".join(f"{n}.shape = {s}" for n, s in zip(names, shapes))
        raise check.error(f"{' and '.join(names)} must broadcast together; got {listed}") \
            from None
