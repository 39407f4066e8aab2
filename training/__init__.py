"""Training on top of the graph: CS231n's models, update rules, schedules and Solver.

- `TwoLayerNet`, `FullyConnectedNet`, `ThreeLayerConvNet`: CS231n's models, built on
  `graph.Sequential`, each with ``params`` and ``loss(X, y) -> (loss, grads)``.
- `Solver`: CS231n's training loop, with its history and plots.
- `to_torch(model)`: the model as a ``torch.nn.Module`` with its weights
  (`training.torch_export`; torch is imported when it is called).
- `training.optim`: the update rules (sgd, sgd_momentum, nesterov, rmsprop, adam, adamw);
  `training.schedules`: learning-rate schedules; `training.init`: initializers;
  `training.checkpoint`: save and load parameters; `training.data`: the digits data set.
- ``python -m training.train`` trains a model on the digits data set.
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


from .models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from .torch_export import to_torch
from .solver import Solver

__all__ = ["FullyConnectedNet", "Solver", "ThreeLayerConvNet", "TwoLayerNet", "to_torch"]
