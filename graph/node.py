"""The pieces of a `ComputationalGraph`: a `Node` is a value, a `Gate` is a layer call.

A node is an input (fed at every forward), a param (holds its value between calls), or
one output of a gate. A gate is one call of a layer pair: the nodes and constants it is
fed, the keyword options passed through to its forward, and the nodes of its outputs.

Operators on nodes are a thin layer over `ComputationalGraph.gate`: ``x + y`` is
``g.gate("add", x, y)``, ``x @ w`` is ``g.gate("matmul", x, w)``, ``x.relu()`` is
``g.gate("relu", x)``. A Python number or a NumPy array on the other side is a constant.
"""

__all__ = ["Node", "Gate"]

INPUT, PARAM, GATE = "input", "param", "gate"


class Node:
    """A value in a `ComputationalGraph`: an input, a param, or one output of a gate.

    Made by ``g.input``, ``g.param`` and ``g.gate`` (or an operator on nodes), never
    directly. ``node.value`` and ``node.grad`` read the graph's last forward and backward
    passes.

    Attributes
    ----------
    name : str
        Unique in its graph. Output k of a gate with several outputs is ``"<gate>:<k>"``.
    kind : {"input", "param", "gate"}
    gate : Gate or None
        The gate that computes this node (None for inputs and params).
    index : int
        Which output of `gate` this node is (0 for single-output gates).
    """

    __slots__ = ("graph", "name", "kind", "gate", "index", "id")

    # NumPy defers to Node's reflected operators, so ``array * node`` builds a gate
    # instead of an object array of nodes.
    __array_ufunc__ = None

    def __init__(self, graph, name, kind, node_id, gate=None, index=0):
        self.graph = graph
        self.name = name
        self.kind = kind
        self.id = node_id
        self.gate = gate
        self.index = index

    @property
    def value(self):
        """The node's value in the last forward pass (`ComputationalGraph.value`)."""
        return self.graph.value(self)

    @property
    def grad(self):
        """The node's gradient in the last backward pass (`ComputationalGraph.grad`)."""
        return self.graph.grad(self)

    def __repr__(self):
        if self.gate is None:
            return f"<Node {self.name!r}: {self.kind}>"
        return f"<Node {self.name!r}: output {self.index} of {self.gate.layer} gate>"

    # -- operators: each one gate ---------------------------------------------------------

    def __add__(self, other):
        """``self + other``: an add gate."""
        return self.graph.gate("add", self, other)

    def __radd__(self, other):
        """``other + self``: an add gate."""
        return self.graph.gate("add", other, self)

    def __sub__(self, other):
        """``self - other``: a subtract gate."""
        return self.graph.gate("subtract", self, other)

    def __rsub__(self, other):
        """``other - self``: a subtract gate."""
        return self.graph.gate("subtract", other, self)

    def __mul__(self, other):
        """``self * other``: a multiply gate."""
        return self.graph.gate("multiply", self, other)

    def __rmul__(self, other):
        """``other * self``: a multiply gate."""
        return self.graph.gate("multiply", other, self)

    def __truediv__(self, other):
        """``self / other``: a divide gate."""
        return self.graph.gate("divide", self, other)

    def __rtruediv__(self, other):
        """``other / self``: a divide gate."""
        return self.graph.gate("divide", other, self)

    def __matmul__(self, other):
        """``self @ other``: a matmul gate."""
        return self.graph.gate("matmul", self, other)

    def __rmatmul__(self, other):
        """``other @ self``: a matmul gate."""
        return self.graph.gate("matmul", other, self)

    def __pow__(self, p):
        """``self ** p``: a power gate (p a constant)."""
        return self.graph.gate("power", self, p)

    def __neg__(self):
        """``-self``: a multiply gate by -1."""
        return self.graph.gate("multiply", self, -1.0)

    def relu(self):
        """``gate("relu", self)``: max(0, x) elementwise."""
        return self.graph.gate("relu", self)

    def sigmoid(self):
        """``gate("sigmoid", self)``: 1 / (1 + exp(-x)) elementwise."""
        return self.graph.gate("sigmoid", self)

    def tanh(self):
        """``gate("tanh", self)``: tanh(x) elementwise."""
        return self.graph.gate("tanh", self)

    def exp(self):
        """``gate("exp", self)``: exp(x) elementwise."""
        return self.graph.gate("exp", self)

    def log(self):
        """``gate("log", self)``: the natural log elementwise."""
        return self.graph.gate("log", self)

    def sum(self, axis=None, keepdims=False):
        """``gate("sum", self, axis=axis, keepdims=keepdims)``: the sum over `axis`."""
        return self.graph.gate("sum", self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        """``gate("mean", self, axis=axis, keepdims=keepdims)``: the mean over `axis`."""
        return self.graph.gate("mean", self, axis=axis, keepdims=keepdims)


class Gate:
    """One call of a layer pair in a `ComputationalGraph`.

    Attributes
    ----------
    name : str
        Unique in its graph: the name given to ``g.gate``, or ``<layer><k>``.
    layer : str
        The registered layer name, or the user forward's name without ``_forward``.
    forward, backward : callable
        The pair, under the layer contract (see `layers`).
    args : tuple
        As given to ``g.gate``: nodes, names of nodes, and constants.
    options : dict
        Keyword options passed through to `forward`.
    outputs : tuple of Node
    named : bool
        Whether the user chose `name` (drawings show chosen names only).
    slots : tuple of (position, node id)
        Where `args` holds nodes; filled when the graph's structure is built.
    template : list
        `args` with None at the node positions; filled with values at each forward.
    """

    __slots__ = ("id", "name", "layer", "forward", "backward", "args", "options", "outputs",
                 "named", "slots", "template")

    def __init__(self, gate_id, name, layer, forward, backward, args, options, named):
        self.id = gate_id
        self.name = name
        self.layer = layer
        self.forward = forward
        self.backward = backward
        self.args = args
        self.options = options
        self.named = named
        self.outputs = ()
        self.slots = ()
        self.template = []

    def __repr__(self):
        return f"<Gate {self.name!r} ({self.layer})>"

    @property
    def where(self):
        """How error messages name the gate: ``gate 'h1' (relu)``."""
        return f"gate {self.name!r} ({self.layer})"
