"""Computational graphs of layer pairs: wire gates, run forward and backward, draw them.

- `ComputationalGraph`: inputs, params and gates (any registered layer or a user's
  ``(forward, backward)`` pair); ``forward(**feeds)``, ``backward()`` -> gradients of
  every input and param; ``draw()`` and ``to_dot()``.
- `Sequential`: a list of layers with their params, ending in a loss, as one graph.
- `draw`, `to_dot`: the circuit as a matplotlib Figure or as Graphviz DOT text.
- Training: `TwoLayerNet`, `FullyConnectedNet`, `ThreeLayerConvNet` (CS231n's models,
  built on the graph), `Solver`; update rules in `graph.optim`, learning-rate schedules
  in `graph.schedules`, initializers in `graph.init`, save/load in `graph.checkpoint`.
"""

from .computational_graph import ComputationalGraph
from .draw import draw, to_dot
from .node import Gate, Node
from .models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from .sequential import Sequential
from .solver import Solver

__all__ = ["ComputationalGraph", "FullyConnectedNet", "Gate", "Node", "Sequential", "Solver",
           "ThreeLayerConvNet", "TwoLayerNet", "draw", "to_dot"]
