"""gatelab's numeric-gradient checker.

- `check_layer(forward, backward, *args, **kwargs) -> GradReport`: compare a layer pair's
  backward with central differences of its forward; ``print(report)`` shows a row per
  argument; `assert_gradients` raises `GradientCheckError` with that table (for pytest).
- `check_graph(g, **feeds)`: the same check for a whole `graph.ComputationalGraph`,
  with a row per input and param; when it fails, every gate is checked at the values
  it saw in the forward pass, and the wrong one named (``localize=True``).
- `check_model(model, X, y)`: the same check for a CS231n-style model (a ``params``
  dict and ``loss(X, y) -> (loss, grads)``), with a row per parameter.
- `check_torch(fn, *inputs)`: the same check for PyTorch code (a custom
  ``torch.autograd.Function``, a module), with gradcheck's calling convention; torch is
  imported only when it is called.
- `CheckOptions`: the options the four take as keyword arguments (``tol``, ``seed``,
  ``strategy``, ...), documented once.
- `register`: register a pair with a builder of example inputs, so that
  ``python -m checks my_layers.py`` checks it.
- `jacobian(fn, x)` and `analytic_jacobian(forward, backward, *args)`: full Jacobians of
  small layers, for seeing Jacobian form next to the shape convention.
- CS231n's helpers, unchanged in use: `rel_error`, `eval_numerical_gradient`,
  `eval_numerical_gradient_array`, `eval_numerical_gradient_blobs`,
  `eval_numerical_gradient_net`, `grad_check_sparse`.

Run ``python -m checks`` to check every layer of the library.
"""

# ruff: noqa: E402 - the sibling imports below must come after this check.
import runpy as _runpy
from pathlib import Path as _Path

# Before importing a sibling: a user's own layers.py in the working directory must stop
# here with its name and the fix, not deep inside as "'layers' is not a package". The
# check is loaded by path because any name it were imported by could be hidden too.
_runpy.run_path(str(_Path(__file__).resolve().parents[1] / "layers" / "_siblings.py"))[
    "require_own_siblings"](__file__, "layers", "graph")
del _runpy, _Path


from layers.registry import Example, register
from .checker import TOLERANCES, assert_gradients, check_layer
from .graph_check import check_graph
from .jacobian import analytic_jacobian, jacobian
from .model_check import check_model
from .options import CheckOptions
from .cs231n_helpers import (eval_numerical_gradient, eval_numerical_gradient_array,
                             eval_numerical_gradient_blobs, eval_numerical_gradient_net,
                             grad_check_sparse, rel_error)
from .report import GradientCheckError, GradReport
from .torch_check import check_torch

__all__ = [
    "CheckOptions", "Example", "GradReport", "GradientCheckError", "TOLERANCES",
    "analytic_jacobian", "assert_gradients", "check_graph", "check_layer", "check_model",
    "check_torch",
    "eval_numerical_gradient", "eval_numerical_gradient_array",
    "eval_numerical_gradient_blobs", "eval_numerical_gradient_net", "grad_check_sparse",
    "jacobian", "register", "rel_error",
]
