"""The layer contract, written once in code: the graph, the checker and the registry call it.

- Argument checks (`Args`): what a layer accepts and how a refusal reads.
- Which arguments get a gradient: `differentiable` declares them on a library forward,
  converts them to the call's NumPy result type, and tags its cache (`Cache`);
  `backward_of` refuses a foreign cache and returns each gradient in its argument's dtype
  and shape; `gradient_positions` answers for any forward, a user's undeclared pair too.
- Matching a backward's return to its arguments (`match_gradients`) and the name of a
  pair (`pair_name`).

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

import functools
import inspect
import math
import numbers
from collections.abc import Callable
from typing import TypeVar

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


# -- which arguments get a gradient, in which dtype -------------------------------------------

SUPPORTED = "float32 or float64 (integers and Python numbers are promoted as NumPy does)"


# The decorators return a function with the decorated one's signature and docstring
# (functools.wraps); typed as the same type, so that editors and type checkers resolve a
# layer's name to its own ``def``.
_Pair = TypeVar("_Pair", bound=Callable)


class Cache:
    """The cache a library forward returns: the layer's own cache, tagged with its maker.

    A backward recognises a cache its forward did not make (another layer's, None, a tuple
    built by hand) and refuses it by name. Where the layer's own cache is a tuple (a
    sandwich layer's ``(fc_cache, relu_cache)``), the tagged cache unpacks like it, as
    CS231n-style code expects.

    Attributes
    ----------
    forward : str
        The name of the forward that made it, e.g. ``"affine_forward"``.
    inner : object
        The layer's own cache, as its backward reads it.
    grads : tuple of (dtype, shape) or None
        For each declared argument, the dtype and shape its gradient must have; None for
        a Python-number constant, which gets no gradient.
    """

    __slots__ = ("forward", "inner", "grads")

    def __init__(self, forward, inner, grads):
        self.forward, self.inner, self.grads = forward, inner, grads

    def _unpackable(self):
        if not isinstance(self.inner, tuple):
            raise TypeError(f"the cache of {self.forward} is opaque: pass it whole to the "
                            "backward")
        return self.inner

    def __iter__(self):
        return iter(self._unpackable())

    def __len__(self):
        return len(self._unpackable())

    def __getitem__(self, index):
        return self._unpackable()[index]

    def __repr__(self):
        return f"<cache of {self.forward}>"


def is_python_number(value):
    """A Python int or float (not bool, not a NumPy scalar): a constant in a gate."""
    kind = type(value)
    if kind is float or kind is int:
        return True
    if kind is np.ndarray:
        return False
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.generic))


def differentiable(*names, numbers_are_constants=False) -> Callable[[_Pair], _Pair]:
    """Decorator of a library forward: the arguments `names` get a gradient, in this order.

    The declaration is a property of the layer, not of a call: labels, indices, masks and
    parameter dicts are simply not named. Every named argument is a number array as
    NumPy sees it: float32/float64 arrays, integer arrays, NumPy scalars, Python numbers
    and nested lists of numbers. The forward computes in their NumPy result type
    (``np.result_type``; integers alone give float64), so float32 in gives float32 out and
    float32 weights with float64 data compute in float64, and its backward returns each
    gradient in its own argument's dtype (integer and Python-number arguments: the
    computation's dtype) and shape. Bool, complex, float16 and non-numeric values are
    refused by name.

    With `numbers_are_constants` (the gates of a circuit), a Python number is a constant
    that gets no gradient, so ``multiply_forward(x, 3.0)``'s backward returns a bare dx.

    The decorated forward's cache is a `Cache`; its backward is decorated with
    `backward_of`.
    """
    def decorate(forward: _Pair) -> _Pair:
        parameters = list(inspect.signature(forward).parameters)
        missing = [n for n in names if n not in parameters]
        if missing:
            raise ValueError(f"differentiable: {forward.__name__} has no argument "
                             f"{', '.join(missing)}")
        slots = [(name, parameters.index(name)) for name in names]
        func = forward.__name__

        @functools.wraps(forward)
        def promoting_forward(*args, **kwargs):
            args, kwargs, grads = _promote(func, slots, args, kwargs, numbers_are_constants)
            *outputs, inner = forward(*args, **kwargs)
            return (*outputs, Cache(func, inner, grads))

        promoting_forward.differentiable = tuple(names)
        promoting_forward.numbers_are_constants = numbers_are_constants
        return promoting_forward

    return decorate


def backward_of(*forwards) -> Callable[[_Pair], _Pair]:
    """Decorator of a library backward: it takes the caches of `forwards` only.

    The backward's own body receives the forward's inner cache and returns its gradients
    in the computation's dtype; the decorated backward refuses a foreign cache by name and
    returns each gradient in its argument's dtype and shape (see `differentiable`).
    """
    accepted = tuple(f.__name__ for f in forwards)

    def decorate(backward: _Pair) -> _Pair:
        func = backward.__name__

        @functools.wraps(backward)
        def checked_backward(*args):
            if not args:
                raise TypeError(f"{func}: takes the upstream gradient(s) and the cache")
            cache = args[-1]
            if not isinstance(cache, Cache) or cache.forward not in accepted:
                raise foreign_cache(func, accepted, cache)
            result = backward(*args[:-1], cache.inner)
            return _finish(func, result, cache.grads)

        checked_backward.forwards = accepted
        return checked_backward

    return decorate


def foreign_cache(func, accepted, cache):
    """The error for a cache that none of the `accepted` forwards made."""
    makers = " or ".join(accepted)
    if isinstance(cache, Cache):
        got = f"the cache of {cache.forward}"
    elif isinstance(cache, (tuple, list)):
        got = f"a {type(cache).__name__} of length {len(cache)}"
    else:
        got = describe(cache)
    kind = TypeError if not isinstance(cache, Cache) else ValueError
    return kind(f"{func}: cache must be the cache returned by {makers}; got {got}")


def declared(forward):
    """The names of the arguments `forward` declares differentiable, or None (undeclared)."""
    return getattr(forward, "differentiable", None)


def gradient_positions(forward, args):
    """Positions in `args` (a forward's positional arguments) that get a gradient, in order.

    A declared forward (`differentiable`): its declared arguments, less Python-number
    constants where it treats numbers as constants. An undeclared forward (a user's pair):
    the float32/float64 array arguments, the rule of the layer contract for user pairs.
    """
    names = declared(forward)
    if names is None:
        return [i for i, arg in enumerate(args) if is_float_array(arg)]
    positions = [i for i in _declared_positions(forward) if i < len(args)]
    if getattr(forward, "numbers_are_constants", False):
        positions = [i for i in positions if not is_python_number(args[i])]
    return positions


@functools.lru_cache(maxsize=1024)
def _declared_positions(forward):
    """The positions of `forward`'s declared arguments in its signature (read once: a
    graph asks at every gate of every backward)."""
    parameters = list(inspect.signature(forward).parameters)
    return tuple(parameters.index(name) for name in declared(forward))


def _numeric(func, name, value):
    """`value` as a number array (no copy where it already is one), or a clear refusal."""
    array = value if isinstance(value, np.ndarray) else None
    if array is None:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{func}: {name} must be a number array, {SUPPORTED}; got "
                            f"{describe(value)}")
        if isinstance(value, (numbers.Real, np.generic, list, tuple)):
            try:
                array = np.asarray(value)
            except (ValueError, TypeError):
                array = None
        if array is None or array.dtype == object:
            raise TypeError(f"{func}: {name} must be a number array, {SUPPORTED}; got "
                            f"{describe(value)}")
    kind = array.dtype.kind
    if kind in "iu" or array.dtype in FLOAT_DTYPES:
        return array
    raise TypeError(f"{func}: {name} must be a number array, {SUPPORTED}; got "
                    f"{describe(value)}")


def _promote(func, slots, args, kwargs, numbers_are_constants):
    """Convert the declared arguments to the call's computation dtype.

    Returns the new args and kwargs and, per declared argument, the (dtype, shape) of its
    gradient, or None for a constant.
    """
    count = len(args)
    values = [args[position] if position < count else kwargs.get(name, _ABSENT)
              for name, position in slots]
    # The common case, float arrays of one dtype, takes no conversion at all.
    dtype = getattr(values[0], "dtype", None)
    if dtype is _FLOAT64 or dtype is _FLOAT32:
        grads = []
        for value in values:
            if type(value) is not np.ndarray or value.dtype is not dtype:
                break
            grads.append((dtype, value.shape))
        else:
            return args, kwargs, tuple(grads)

    arrays = {}
    for (name, _), value in zip(slots, values):
        if value is _ABSENT:
            continue  # the forward's own signature reports a missing argument
        if numbers_are_constants and is_python_number(value):
            continue
        arrays[name] = _numeric(func, name, value)
    if not arrays:
        return args, kwargs, tuple(None for _ in values)
    # Python numbers stay weak (NumPy's rule): 2.0 next to a float32 array is float32.
    dtype = computation_dtype([value if is_python_number(value) else arrays[name]
                               for (name, _), value in zip(slots, values) if name in arrays])
    args, grads = list(args), []
    for name, position in slots:
        if name not in arrays:
            grads.append(None)
            continue
        array = arrays[name]
        own = array.dtype if array.dtype in FLOAT_DTYPES else dtype
        grads.append((own, array.shape))
        converted = array.astype(dtype, copy=False)
        if position < len(args):
            args[position] = converted
        else:
            kwargs = {**kwargs, name: converted}
    return tuple(args), kwargs, tuple(grads)


_ABSENT = object()
_FLOAT32, _FLOAT64 = FLOAT_DTYPES


def _finish(func, result, grads):
    """A backward's gradients in their arguments' dtypes and shapes, bare when one."""
    wanted = [g for g in grads if g is not None]
    if len(wanted) == 1:
        return _finished(result, *wanted[0])
    if len(result) != len(wanted):
        raise RuntimeError(f"{func}: returned {len(result)} gradients for "
                           f"{len(wanted)} declared arguments (a bug in the layer)")
    return tuple(_finished(grad, *want) for grad, want in zip(result, wanted))


def _finished(grad, dtype, shape):
    """One gradient in its argument's dtype and shape (summed where it was broadcast)."""
    if type(grad) is np.ndarray and grad.dtype is dtype and grad.shape == shape:
        return grad
    grad = np.asarray(grad)
    if grad.shape != shape:
        grad = unbroadcast(grad, shape)
    return grad if grad.dtype == dtype else grad.astype(dtype)


def computation_dtype(values):
    """The dtype a declared layer computes in for these argument values: NumPy's result
    type (Python numbers weak), float64 where they are all integers."""
    dtype = np.result_type(*(v if is_python_number(v) else np.asarray(v) for v in values)) \
        if values else np.dtype(np.float64)
    return np.dtype(np.float64) if dtype.kind in "iub" else dtype


def gradient_dtype(value, computation):
    """The dtype of the gradient of argument `value`: its own where it is float32/float64,
    else (integers, Python numbers) the computation's."""
    return np.asarray(value).dtype if is_float_array(value) else computation


def match_gradients(result, args, positions, labels, *, check_dtype=True):
    """Match a backward's return value to the arguments that get a gradient.

    The one judgement of the contract on a backward's return, made for the graph and the
    checker alike: one gradient per position (a bare array for one), each an array of its
    argument's shape and gradient dtype (`gradient_dtype`).

    Parameters
    ----------
    result : what the backward returned
    args : sequence, the forward's positional arguments
    positions : list of int, the positions in `args` that get a gradient, in order
    labels : list of str, or a callable position -> str
        How a message names each position (a callable is only called for a message).
    check_dtype : bool
        False to skip the dtype rule (a backward run on float64 copies).

    Returns
    -------
    grads : list of ndarray in the order of `positions`, or None when it does not match
    problems : list of (exception type, str)
        Each a sentence starting "backward returned ...", with the exception type that
        fits it: TypeError for a wrong type or dtype, ValueError for a wrong count or
        shape.
    """
    count = len(positions)
    if callable(labels):
        label_of = labels
        labels = _LazyLabels(lambda: [label_of(p) for p in positions])
    if count == 1 and isinstance(result, (tuple, list)):
        return None, [(ValueError, f"backward returned a {type(result).__name__} of "
                      f"{len(result)} for one differentiable argument ({labels[0]}); the "
                      "contract returns a bare array")]
    received = [result] if count == 1 else result
    if not isinstance(received, (tuple, list)) or len(received) != count:
        got = len(received) if isinstance(received, (tuple, list)) else 1
        return None, [(ValueError, f"backward returned {got} gradient{'s' * (got != 1)} for "
                      f"{count} differentiable argument{'s' * (count != 1)} "
                      f"({', '.join(labels)})")]
    computation = None
    problems = []
    for k, (position, grad) in enumerate(zip(positions, received)):
        arg = args[position]
        if type(grad) is np.ndarray and type(arg) is np.ndarray and grad.dtype is arg.dtype \
                and grad.shape == arg.shape and arg.dtype in FLOAT_DTYPES:
            continue  # the common case, settled without building a message
        label = labels[k]
        if computation is None:
            computation = computation_dtype([args[i] for i in positions])
        if not isinstance(grad, (np.ndarray, np.generic)):
            problems.append((TypeError, f"backward returned {describe(grad)} as the "
                             f"gradient of {label}, not an array"))
        elif np.shape(grad) != np.shape(arg):
            problems.append((ValueError, f"backward returned a gradient of shape "
                             f"{np.shape(grad)} for {label}, of shape {np.shape(arg)}"))
        elif check_dtype and np.asarray(grad).dtype != gradient_dtype(arg, computation):
            problems.append((TypeError, f"backward returned a {np.asarray(grad).dtype} "
                             f"gradient for {label}, whose gradient is "
                             f"{gradient_dtype(arg, computation)} (a gradient has its "
                             "argument's dtype)"))
    if problems:
        return None, problems
    return [np.asarray(g) for g in received], []


class _LazyLabels:
    """Labels for messages, made only when a message needs one."""

    def __init__(self, make):
        self._make, self._labels = make, None

    def _get(self):
        if self._labels is None:
            self._labels = self._make()
        return self._labels

    def __getitem__(self, index):
        return self._get()[index]

    def __iter__(self):
        return iter(self._get())


def pair_name(forward, default="layer"):
    """The name of a layer pair: its forward's name without ``_forward``
    (``affine_forward`` -> ``"affine"``); a forward named otherwise keeps its name, and
    one without a name is called `default`."""
    name = getattr(forward, "__name__", None) or default
    return name[: -len("_forward")] if name.endswith("_forward") else name
