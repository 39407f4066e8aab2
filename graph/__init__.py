"""Computational graphs of layer pairs: wire gates, run forward and backward, draw them.

- `ComputationalGraph`: inputs, params and gates (any registered layer or a user's
  ``(forward, backward)`` pair); ``forward(**feeds)``, ``backward()`` -> gradients of
  every input and param; ``draw()`` and ``to_dot()``.
- `Sequential`: a list of layers with their params, ending in a loss, as one graph.
- `draw`, `to_dot`: the circuit as a matplotlib Figure or as Graphviz DOT text.

Training (models, update rules, the Solver) is built on top of the graph, in `training`.
"""

# ruff: noqa: E402 - the sibling imports below must come after this check.
import runpy as _runpy
from pathlib import Path as _Path

# Before importing a sibling: a user's own layers.py in the working directory must stop
# here with its name and the fix, not deep inside as "'layers' is not a package". The
# check is loaded by path because any name it were imported by could be hidden too.
_runpy.run_path(str(_Path(__file__).resolve().parents[1] / "layers" / "_siblings.py"))[
    "require_own_siblings"](__file__, "layers")
del _runpy, _Path


from .computational_graph import ComputationalGraph
from .draw import draw, to_dot
from .node import Gate, Node
from .sequential import Sequential

__all__ = ["ComputationalGraph", "Gate", "Node", "Sequential", "draw", "to_dot"]
