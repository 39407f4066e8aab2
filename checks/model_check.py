"""Check a whole CS231n-style model: the gradient of its loss for every parameter.

A model is any object with a ``params`` dict (name -> float array) and
``loss(X, y) -> (loss, grads)`` with one gradient per parameter, as CS231n's
``TwoLayerNet``, ``FullyConnectedNet``, ``ThreeLayerConvNet`` and ``CaptioningRNN`` and
gatelab's `training.models` have. The model is made a layer pair whose arguments are
its parameters,

    forward(*params) -> (loss, grads)      backward(dloss, grads) -> dloss * grads

so that `check_layer` checks it with its usual report: one row per parameter, the worst
elements and a hint. The model checked is a deep copy: the caller's parameters, running
statistics and dropout state are never touched. Randomness is held fixed as for a layer:
NumPy's global state is reset before every loss evaluation (`checks.fixed_randomness`), so a
dropout drawing from it (CS231n's and gatelab's without a seed) drops the same units at
every evaluation, and one seeded through ``dropout_param['seed']`` does anyway.
"""

import copy
from collections.abc import Mapping

import numpy as np

from layers.contract import describe

from .checker import check_pair
from .options import DIRECTIONS, CheckOptions

__all__ = ["check_model"]


def check_model(model, X, y, *, tol=None, seed=0, strategy="auto", directions=DIRECTIONS,
                raise_on_fail=False):
    """Compare the gradients of ``model.loss(X, y)`` with central differences.

    Parameters
    ----------
    model : object
        ``model.params``: dict of name -> float ndarray; ``model.loss(X, y) -> (loss,
        grads)`` with ``grads`` a dict holding a gradient of each parameter's shape.
        Never modified: the check runs on a deep copy.
    X : ndarray of shape (N, ...)
        The input batch, as ``model.loss`` takes it.
    y : ndarray of shape (N, ...)
        The labels (or captions), as ``model.loss`` takes them.
    tol, seed, strategy, directions, raise_on_fail
        The check's options: see `CheckOptions`. A model built in float64 is checked
        against the float64 tolerance; CS231n checks its models in float64 for this
        reason. The report is named after the model's class.

    Returns
    -------
    GradReport
        One row per parameter, in the order of ``model.params``; a dropped
        regularization term shows as failing weights with a hint naming it, and passing
        biases.

    Examples
    --------
    >>> from training.models import TwoLayerNet
    >>> model = TwoLayerNet(input_dim=4, hidden_dim=5, num_classes=3, reg=0.1, weight_seed=0)
    >>> rng = np.random.default_rng(0)
    >>> check_model(model, rng.standard_normal((6, 4)), rng.integers(0, 3, 6)).ok
    True
    """
    options = CheckOptions(tol=tol, seed=seed, strategy=strategy, directions=directions,
                           raise_on_fail=raise_on_fail, caller="check_model")
    params = getattr(model, "params", None)
    if not isinstance(params, Mapping) or not callable(getattr(model, "loss", None)):
        raise TypeError(f"check_model: model must have a params dict and a loss(X, y) "
                        f"method, as CS231n's models do; got {describe(model)}")
    bad = [name for name, value in params.items() if not isinstance(value, np.ndarray)]
    if bad or not params:
        raise TypeError("check_model: model.params must map names to NumPy arrays; got "
                        + (", ".join(f"{name}: {describe(params[name])}" for name in bad)
                           or "an empty dict"))
    working = _working_copy(model)
    names = list(working.params)
    forward, backward = _as_pair(working, names, X, y)
    report = check_pair(forward, backward, [working.params[name] for name in names], {},
                        names, type(model).__name__, options)
    if options.raise_on_fail:
        report.raise_if_failed()
    return report


def _working_copy(model):
    """A deep copy of `model` to check, so that the caller's model is never touched."""
    try:
        return copy.deepcopy(model)
    except Exception as exc:  # noqa: BLE001 - any object that cannot be copied
        raise TypeError(f"check_model: the model must be copyable with copy.deepcopy (the "
                        f"check never touches the caller's model); deepcopy raised "
                        f"{type(exc).__name__}: {exc}") from exc


def _as_pair(model, names, X, y):
    """The model as a layer pair whose arguments are its parameters, in `names` order."""
    def forward(*values):
        for name, value in zip(names, values):
            model.params[name] = value
        loss, grads = model.loss(X, y)
        return np.asarray(loss), grads

    def backward(dloss, grads):
        if not isinstance(grads, Mapping):
            raise TypeError(f"check_model: model.loss(X, y) must return (loss, grads) with "
                            f"grads a dict; got {describe(grads)}")
        missing = [name for name in names if name not in grads]
        if missing:
            raise ValueError(f"check_model: model.loss(X, y) returned no gradient for "
                             f"{', '.join(missing)}")
        result = tuple(dloss * np.asarray(grads[name]) for name in names)
        return result[0] if len(result) == 1 else result

    forward.__name__ = f"{type(model).__name__}_forward"
    return forward, backward
