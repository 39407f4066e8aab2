"""Computational graphs of layer pairs: wire gates, run forward and backward, draw them.

- `ComputationalGraph`: inputs, params and gates (any registered layer or a user's
  ``(forward, backward)`` pair); ``forward(**feeds)``, ``backward()`` -> gradients of
  every input and param; ``draw()`` and ``to_dot()``.
- `Sequential`: a list of layers with their params, ending in a loss, as one graph.
- `draw`, `to_dot`: the circuit as a matplotlib Figure or as Graphviz DOT text.

Training (models, update rules, the Solver) is built on top of the graph, in `training`.
"""

from .computational_graph import ComputationalGraph
from .draw import draw, to_dot
from .node import Gate, Node
from .sequential import Sequential

__all__ = ["ComputationalGraph", "Gate", "Node", "Sequential", "draw", "to_dot"]
