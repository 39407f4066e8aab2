"""The layer contract, written once in code: the graph, the checker and the registry call it.

A library pair is two decorated functions::

    @differentiable("x", "w", "b")          # the arguments that get a gradient
    def affine_forward(x, w, b): ...        # -> (out, cache); checks with Args()

    @backward_of(affine_forward)            # takes affine_forward's cache only
    def affine_backward(dout, cache): ...   # -> (dx, dw, db)

The forward's `Cache` records its maker and the dtype and shape of every gradient and
output; the backward checks each upstream gradient against its output (`upstream`) and
returns each gradient in its argument's dtype and shape (`finish_gradients`).

The graph, the checker and the torch bridge use only this module's public names: for any
pair, a user's too, `gradient_positions` (which arguments get a gradient),
`match_gradients` (does a backward's return fit them), `gradient_list`, `argument_names`.
"""

import functools
import inspect
import numbers
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from types import SimpleNamespace
from typing import TypeVar

import numpy as np

from .args import (FLOAT_DTYPES, Args, broadcast_shapes, called_layer, describe,
                   format_shape, is_float_array)
from .promotion import computation_dtype, gradient_dtype, is_python_number, promote

__all__ = [
    "Args", "Cache", "FLOAT_DTYPES", "argument_names", "backward_of", "broadcast_shapes",
    "computation_dtype", "declared", "describe", "differentiable", "finish_gradients",
    "foreign_cache", "format_shape", "gradient_dtype", "gradient_list", "gradient_positions",
    "gradient_skipped", "is_float_array", "is_python_number", "match_gradients",
    "named_as_called", "pair_name", "promote", "skipping_gradients", "upstream",
]

# The decorators keep the decorated function's signature and docstring (functools.wraps)
# and its type, so that editors and type checkers resolve a layer's name to its ``def``.
_Pair = TypeVar("_Pair", bound=Callable)


class Cache(SimpleNamespace):
    """The cache a library forward returns: the layer's own cache, tagged with its maker.

    A backward refuses a cache its forward did not make (another layer's, None, a tuple
    built by hand) by name. Where the layer's own cache is a tuple (a sandwich layer's
    ``(fc_cache, relu_cache)``), the tagged cache unpacks like it, as CS231n-style code
    expects. Printed, it shows its maker and the dtype and shape of every array it holds.

    Attributes
    ----------
    forward : function, the forward that made it, e.g. ``affine_forward``
    inner : object, the layer's own cache, as its backward reads it
    grads : tuple of (name, dtype, shape), per argument that gets a gradient
    outputs : tuple of (shape, dtype), per output, for its upstream gradient
    """

    # A namespace is built in C, so a forward pays no Python call for its cache; it would
    # compare its fields, but a cache is one call's record, equal only to itself.
    __eq__, __hash__ = object.__eq__, object.__hash__

    def _unpackable(self):
        if not isinstance(self.inner, tuple):
            raise TypeError(f"the cache of {self.forward.__name__} is opaque: pass it whole "
                            "to the backward")
        return self.inner

    def __iter__(self):
        return iter(self._unpackable())

    def __len__(self):
        return len(self._unpackable())

    def __getitem__(self, index):
        return self._unpackable()[index]

    def __repr__(self):
        return f"<cache of {self.forward.__name__}: {_show(self.inner)}>"


def _show(value):
    """What a cache holds, for a debugging eye: field names, array dtypes and shapes."""
    if isinstance(value, (np.ndarray, np.generic)):
        return f"{value.dtype} {format_shape([str(n) for n in np.shape(value)])}"
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        fields = ", ".join(f"{k}={_show(v)}" for k, v in zip(value._fields, value))
        return f"{type(value).__name__}({fields})"
    if isinstance(value, (tuple, list)):
        return f"({', '.join(_show(v) for v in value)})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_show(v)}" for k, v in value.items()) + "}"
    plain = isinstance(value, (Cache, str, numbers.Number, type(None)))
    return repr(value) if plain else type(value).__name__


def differentiable(*names, numbers_are_constants=False) -> Callable[[_Pair], _Pair]:
    """Decorator of a library forward: the arguments `names` get a gradient, in this order.

    The declaration is a property of the layer, not of a call: labels, indices, masks and
    parameter dicts are simply not named. The named arguments are converted to the
    call's computation dtype (`layers.promotion`: float32 in gives float32 out, float32
    weights with float64 data compute in float64); bool, complex, float16 and non-numeric
    values are refused by name. With `numbers_are_constants` (the gates of a circuit), a
    Python number is a constant that gets no gradient, so ``multiply_forward(x, 3.0)``'s
    backward returns a bare dx.

    While the forward runs, ``Args()`` names it, or the decorated layer that called it.
    Its cache is a `Cache`; its backward is decorated with `backward_of`.
    """
    def decorate(forward: _Pair) -> _Pair:
        parameters = list(inspect.signature(forward).parameters)
        missing = [n for n in names if n not in parameters]
        if missing:
            raise ValueError(f"differentiable: {forward.__name__} has no argument "
                             f"{', '.join(missing)}")
        slots = tuple((name, parameters.index(name)) for name in names)
        func = forward.__name__

        @functools.wraps(forward)
        def layer_forward(*args, **kwargs):
            # Float arrays of one dtype, the common case, need no conversion; settling it
            # here skips `promote`, which costs about 45% of a small affine forward
            # (benchmarks/bench_contract.py).
            grads, dtype = [], None
            for name, position in slots:
                value = args[position] if position < len(args) else kwargs.get(name)
                if type(value) is not np.ndarray or value.dtype not in FLOAT_DTYPES or \
                        (dtype is not None and value.dtype != dtype):
                    # Refused under the name the user called, as ``Args()`` refuses.
                    args, kwargs, grads = promote(called_layer.get() or func, slots, args,
                                                  kwargs, numbers_are_constants)
                    break
                dtype = value.dtype
                grads.append((name, dtype, value.shape))
            # `_called_as`, written out: each call on this path counts against the
            # contract's budget per layer call (tests/layers/test_contract_calls.py).
            token = called_layer.set(func) if called_layer.get() is None else None
            try:
                *outputs, inner = forward(*args, **kwargs)
            finally:
                if token is not None:
                    called_layer.reset(token)
            shapes = []
            for out in outputs:
                shapes.append((out.shape, out.dtype))
            return (*outputs, Cache(forward=layer_forward, inner=inner, grads=tuple(grads),
                                    outputs=tuple(shapes)))

        layer_forward.differentiable = tuple(names)
        layer_forward.declared_positions = tuple(position for _, position in slots)
        layer_forward.numbers_are_constants = numbers_are_constants
        return layer_forward

    return decorate


def named_as_called(function: _Pair) -> _Pair:
    """Decorator of a library function that runs a pair without being one (CS231n's fused
    losses, ``softmax_loss(x, y) -> (loss, dx)``): what it refuses, in its own checks or in
    the pair's forward and contract, is refused under its name, the one the user called.

    It sets `called_layer` as `differentiable` does, and only where nothing holds it: called
    from inside a decorated layer, the refusal keeps that layer's name.
    """
    func = function.__name__

    @functools.wraps(function)
    def named(*args, **kwargs):
        return _called_as(func, function, args, kwargs)

    return named


def _called_as(name, function, args, kwargs):
    """function(*args, **kwargs) with `called_layer` set to `name`, unless an outer
    decorated function already holds it (its name is the one the user called)."""
    token = called_layer.set(name) if called_layer.get() is None else None
    try:
        return function(*args, **kwargs)
    finally:
        if token is not None:
            called_layer.reset(token)


def backward_of(*forwards) -> Callable[[_Pair], _Pair]:
    """Decorator of a library backward: it takes the caches of `forwards` only.

    It refuses a foreign cache by name and checks each upstream gradient against its
    forward output (`upstream`, named as the backward's parameters: ``dout``, ``dloss``,
    ``dnext_h``). Its body gets them in the computation's dtype with the forward's own
    cache; `finish_gradients` gives each gradient its argument's dtype and shape.
    """
    def decorate(backward: _Pair) -> _Pair:
        func = backward.__name__
        upstream_names = list(inspect.signature(backward).parameters)[:-1]

        @functools.wraps(backward)
        def layer_backward(*args):
            if not args:
                raise TypeError(f"{func}: takes the upstream gradient(s) and the cache")
            *douts, cache = args
            if not isinstance(cache, Cache) or cache.forward not in forwards:
                raise foreign_cache(func, forwards, cache)
            if len(douts) != len(cache.outputs):
                raise TypeError(f"{func}: takes {len(cache.outputs)} upstream gradient(s) "
                                f"and the cache; got {len(douts)} before the cache")
            for k, (shape, dtype) in enumerate(cache.outputs):
                douts[k] = upstream(func, douts[k], shape, dtype, upstream_names[k])
            return finish_gradients(func, backward(*douts, cache.inner), cache.grads)

        layer_backward.forwards = forwards
        return layer_backward

    return decorate


def foreign_cache(func, accepted, cache):
    """The error for a cache that none of the `accepted` forwards made."""
    makers = " or ".join(f.__name__ for f in accepted)
    if isinstance(cache, Cache):
        got = f"the cache of {cache.forward.__name__}"
    elif isinstance(cache, (tuple, list)):
        got = f"a {type(cache).__name__} of length {len(cache)}"
    else:
        got = describe(cache)
    kind = TypeError if not isinstance(cache, Cache) else ValueError
    return kind(f"{func}: cache must be the cache returned by {makers}; got {got}")


def upstream(func, dout, shape, dtype, name="dout"):
    """An upstream gradient `dout` of backward `func`, checked against the forward output
    it stands for (`shape`), as a float array cast to the output's `dtype`, so that every
    gradient keeps its argument's dtype. A Python number is accepted for a 0-d output."""
    if not (isinstance(dout, np.ndarray) and dout.dtype.kind == "f" or
            isinstance(dout, numbers.Real) and not isinstance(dout, bool)):
        raise TypeError(f"{func}: {name} must be a floating-point array; got "
                        f"{describe(dout)}")
    array = np.asarray(dout)
    if array.shape != shape:
        raise ValueError(f"{func}: {name} must have the shape of the forward output "
                         f"{shape}; got {name}.shape = {array.shape}")
    return array.astype(dtype, copy=False)


def finish_gradients(func, result, grads):
    """The gradients a backward body returned, each in its argument's dtype and shape.

    `grads` holds (name, dtype, shape) per argument that gets a gradient; one gradient is
    returned bare. A 0-d argument the layer broadcast (a Python number, a 0-d state) gets
    its gradient summed; any other mismatch is a bug in the layer, refused with the
    sentence `match_gradients` writes for a user's pair.
    """
    received = [result] if len(grads) == 1 else result
    if not isinstance(received, (tuple, list)) or len(received) != len(grads):
        got = len(received) if isinstance(received, (tuple, list)) else 1
        raise ValueError(f"{func}: backward returned {got} gradient{'s' * (got != 1)} for "
                         f"{len(grads)} differentiable arguments "
                         f"({', '.join(name for name, _, _ in grads)})")
    finished = []
    for (name, dtype, shape), grad in zip(grads, received):
        if not isinstance(grad, np.ndarray):
            array = np.asarray(grad)
            if array.dtype.kind not in "fiu":
                raise TypeError(f"{func}: backward returned {describe(grad)} as the "
                                f"gradient of {name}, not an array")
            grad = array
        if grad.shape != shape:
            if shape != ():
                raise ValueError(f"{func}: backward returned a gradient of shape "
                                 f"{grad.shape} for {name}, of shape {shape}")
            grad = np.asarray(grad.sum())
        finished.append(grad if grad.dtype == dtype else grad.astype(dtype))
    return finished[0] if len(grads) == 1 else tuple(finished)


def declared(forward):
    """The names of the arguments `forward` declares differentiable, or None (undeclared)."""
    return getattr(forward, "differentiable", None)


def gradient_positions(forward, args):
    """Positions in `args` (a forward's positional arguments) that get a gradient, in order.

    A declared forward (`differentiable`): its declared arguments, less Python-number
    constants where numbers are constants. A user's pair: its float32/float64 arrays.
    """
    if declared(forward) is None:
        return [i for i, arg in enumerate(args) if is_float_array(arg)]
    positions = [i for i in forward.declared_positions if i < len(args)]
    if getattr(forward, "numbers_are_constants", False):
        positions = [i for i in positions if not is_python_number(args[i])]
    return positions


def match_gradients(result, args, positions, labels, *, check_dtype=True):
    """Match a backward's return value to the arguments that get a gradient.

    The judgement of the contract on any backward, made for the graph and the checker
    alike: one gradient per position (a bare array for one), each an array of its
    argument's shape and gradient dtype (its own if float32/float64, else the
    computation's; `layers.promotion`).

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
    problems : list of (exception type, str), each a sentence "backward returned ...":
        TypeError for a wrong type or dtype, ValueError for a wrong count or shape.
    """
    label = labels if callable(labels) else dict(zip(positions, labels)).get
    count = len(positions)
    if count == 1 and isinstance(result, (tuple, list)):
        return None, [(ValueError, f"backward returned a {type(result).__name__} of "
                      f"{len(result)} for one differentiable argument "
                      f"({label(positions[0])}); the contract returns a bare array")]
    received = [result] if count == 1 else result
    if not isinstance(received, (tuple, list)) or len(received) != count:
        got = len(received) if isinstance(received, (tuple, list)) else 1
        listed = ", ".join(label(p) for p in positions)
        return None, [(ValueError, f"backward returned {got} gradient{'s' * (got != 1)} for "
                      f"{count} differentiable argument{'s' * (count != 1)} ({listed})")]
    problems = []
    for position, grad in zip(positions, received):
        arg = args[position]
        if check_dtype:
            want = np.asarray(arg).dtype if is_float_array(arg) else \
                computation_dtype([args[i] for i in positions])
        if not isinstance(grad, (np.ndarray, np.generic)):
            problems.append((TypeError, f"backward returned {describe(grad)} as the "
                             f"gradient of {label(position)}, not an array"))
        elif np.shape(grad) != np.shape(arg):
            problems.append((ValueError, f"backward returned a gradient of shape "
                             f"{np.shape(grad)} for {label(position)}, of shape "
                             f"{np.shape(arg)}"))
        elif check_dtype and grad.dtype != want:
            problems.append((TypeError, f"backward returned a {grad.dtype} gradient for "
                             f"{label(position)}, whose gradient is {want} (a gradient "
                             "has its argument's dtype)"))
    if problems:
        return None, problems
    return [np.asarray(g) for g in received], []


def argument_names(forward, count):
    """Names of a forward's first `count` positional arguments, for messages: its
    parameters', then ``args[i]`` (past a ``*args``, or for an unreadable signature)."""
    try:
        params = [p for p in inspect.signature(forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:count]]
    return names + [f"args[{i}]" for i in range(len(names), count)]


def gradient_list(result, count):
    """A backward's return as a list of its gradients: the contract returns one bare."""
    return [result] if count == 1 and not isinstance(result, (tuple, list)) else list(result)


def pair_name(forward, default="layer"):
    """The name of a layer pair: its forward's name without ``_forward``
    (``affine_forward`` -> ``"affine"``); a forward named otherwise keeps its name, and
    one without a name is called `default`."""
    name = getattr(forward, "__name__", None) or default
    return name[: -len("_forward")] if name.endswith("_forward") else name


# The arguments whose gradients the caller of the running backward will not use.
_skipped_gradients = ContextVar("skipped_gradients", default=frozenset())


@contextmanager
def skipping_gradients(names):
    """Backwards called inside this block may skip the gradients of the arguments `names`.

    The graph uses it for the inputs it was told not to differentiate
    (``backward(inputs=False)``), as PyTorch skips the gradient of a tensor that does not
    require one: the first layer of a network then does no work for the gradient of the
    data. A backward that skips a gradient returns zeros of its shape in its place, which
    the caller drops; outside this block no gradient is skipped.

    Parameters
    ----------
    names : iterable of str
        Argument names of the forward, e.g. ``("x",)``.
    """
    token = _skipped_gradients.set(frozenset(names))
    try:
        yield
    finally:
        _skipped_gradients.reset(token)


def gradient_skipped(name):
    """Whether the running backward may skip the gradient of its forward's argument
    `name` (a str): its caller said it will not use it (`skipping_gradients`)."""
    return name in _skipped_gradients.get()
