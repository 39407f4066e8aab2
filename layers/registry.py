"""The registry of layer pairs, each with a builder of valid random example inputs.

The gradient checker (``python -m checks``) checks every registered layer; a test fails
if any ``*_forward`` in `layers` is not registered. A registration sits at the bottom of
the module that defines the pair::

    @register(affine_forward, affine_backward)
    def affine_example(rng, dtype):
        x = rng.standard_normal((3, 2, 2)).astype(dtype)
        ...
        return x, w, b

An example builder takes a ``np.random.Generator`` and a floating dtype and returns the
forward's positional arguments as a tuple, or an `Example` when the forward also takes
keyword arguments. It draws shapes as well as values from the generator, so checking
several seeds checks several shapes. Inputs must keep a margin from the layer's kinks
(ReLU at 0, ties of a max) larger than the checker's step, so that central differences
are valid there.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .contract import pair_name


@dataclass(frozen=True)
class Example:
    """Arguments for one call of a forward function."""

    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LayerSpec:
    """A registered layer: its pair and how to make inputs for it.

    Attributes
    ----------
    name : str
        Base name: ``"affine"`` for ``affine_forward`` / ``affine_backward``.
    forward, backward : callable
        The pair, under the layer contract (see `layers`).
    make_example : callable
        ``make_example(rng, dtype) -> tuple | Example``.
    module : str
        Module that registered the layer.
    """

    name: str
    forward: Callable
    backward: Callable
    make_example: Callable[[np.random.Generator, Any], Any]
    module: str

    def example(self, rng, dtype=np.float64):
        """Build an `Example` from `rng` in floating dtype `dtype`."""
        made = self.make_example(rng, np.dtype(dtype))
        return made if isinstance(made, Example) else Example(tuple(made))


REGISTRY = {}


def base_name(forward):
    """`forward`'s pair name, for a forward whose name ends in ``_forward``."""
    name = getattr(forward, "__name__", "")
    if not name.endswith("_forward"):
        raise ValueError(f"register: cannot infer a layer name from {name!r}; its name "
                         "does not end in '_forward': pass name='...'")
    return pair_name(forward)


def register(forward, backward=None, *, name=None, registry=None):
    """Decorator: register `forward`/`backward` with the example builder it decorates.

    Parameters
    ----------
    forward : callable
        ``forward(*args, **kwargs) -> (out, cache)`` or ``(out_1, ..., out_k, cache)``.
    backward : callable, optional
        ``backward(dout, cache)`` (or one upstream gradient per output). By default the
        function named ``<name>_backward`` in `forward`'s module.
    name : str, optional
        Layer name; by default `forward`'s name without ``_forward``.
    registry : dict, optional
        Where to register; the library's `REGISTRY` by default.
    """
    layer_name = name or base_name(forward)
    if backward is None:
        import sys

        module = sys.modules.get(forward.__module__)
        backward = getattr(module, f"{layer_name}_backward", None)
        if backward is None:
            raise ValueError(f"register: no {layer_name}_backward in {forward.__module__}; "
                             "pass backward=")
    target = REGISTRY if registry is None else registry

    def decorate(make_example):
        previous = target.get(layer_name)
        if previous is not None and previous.forward is not forward and (
                previous.module, previous.forward.__qualname__) != (
                forward.__module__, forward.__qualname__):
            raise ValueError(f"register: a layer named {layer_name!r} is already registered "
                             f"from {previous.module}")
        target[layer_name] = LayerSpec(layer_name, forward, backward, make_example,
                                       forward.__module__)
        return make_example

    return decorate
