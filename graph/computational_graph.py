"""ComputationalGraph: layer pairs wired into a circuit, run forward and backward.

The lecture notes' picture: source nodes are inputs, inner nodes are gates, edges carry
values. Forward visits the gates in topological order; each
keeps what backward needs (here: the `cache` its forward returns, which the graph holds).
Backward visits them in reverse: each gate turns the upstream gradient of its output into
a gradient for each of its inputs (downstream = upstream x local gradient), and where a
value feeds several gates, the gradients from all of them SUM (`_accumulate`, the one
place that does it).

Example (worked example 1 of the notes)::

    >>> g = ComputationalGraph()
    >>> x, y, z = g.input("x"), g.input("y"), g.input("z")
    >>> q = g.gate("add", x, y)
    >>> f = g.gate("multiply", q, z)
    >>> g.forward(x=-2.0, y=5.0, z=-4.0)
    array(-12.)
    >>> {name: float(grad) for name, grad in g.backward().items()}
    {'x': -4.0, 'y': -4.0, 'z': 3.0}

The topological order is computed once per structure, without recursion (Kahn's
algorithm on input counts), so a chain of 100,000 gates runs like any other graph.
"""

import contextlib
import difflib
import functools
import heapq
import inspect
import numbers

import numpy as np

import layers  # noqa: F401 - importing registers every layer in REGISTRY
from layers.contract import (Args, argument_names, describe, gradient_positions,
                             is_float_array, is_python_number, match_gradients, pair_name,
                             skipping_gradients)
from layers.registry import REGISTRY, LayerSpec

from .node import GATE, INPUT, PARAM, Gate, Node

__all__ = ["ComputationalGraph"]


class _Run:
    """One forward pass (and, after backward, its gradients): everything the graph computed.

    ``values[i]`` is the value of node i, ``args[j]`` and ``caches[j]`` what gate j was
    called with and returned. Backward fills ``grads`` (per node, None where no gradient
    arrived) and ``edge_grads`` (per gate: position -> the gradient that gate sent to its
    argument there; drawings show them on the edges), and ``skipped`` (the ids of the
    inputs whose gradient was not computed).
    """

    __slots__ = ("version", "values", "args", "caches", "grads", "edge_grads", "dout",
                 "output", "fingerprints", "skipped")

    def __init__(self, version, node_count, gate_count):
        self.version = version
        self.values = [None] * node_count
        self.args = [None] * gate_count
        self.caches = [None] * gate_count
        self.grads = None
        self.edge_grads = None
        self.dout = None
        self.output = None
        self.fingerprints = ()
        self.skipped = frozenset()


class ComputationalGraph:
    """A circuit of layer pairs: inputs and params feed gates, gates feed gates.

    Build it with `input`, `param`, `gate` (or operators on nodes), run it with
    ``forward(**feeds)`` and ``backward(dout=1.0)``.

    Parameters
    ----------
    name : str, optional
        Shown in reports (`checks.check_graph`) and in the layer pair of `as_layer`.
    check_modified : bool
        Whether `backward` refuses to run when an array fed to the last forward, or a
        param's array, was modified in place since (see `backward`). Each check costs a
        checksum of every such array at forward and again at backward. A graph run only
        by code that calls backward right after forward, with nothing in between that
        could write into those arrays (the models of `training.models`), may turn it off.

    Attributes
    ----------
    params : dict of str -> ndarray
        The value of every param, by name. Forward reads it at every call, so an update
        rule changes the weights with ``g.params[name] = next_w`` (the shape must stay).
    inputs : list of str
        The names of the inputs, in order of creation.

    Notes
    -----
    - Python numbers fed to inputs (and given to `param`) become float64 0-d arrays, so
      ``g.forward(x=1, y=2)`` gets gradients for x and y. NumPy arrays are used as they
      are: an integer array (labels) gets no gradient.
    - Gradients follow the layer contract: a gate's backward returns one gradient per
      floating-point array it was called with. Constants (Python numbers, dicts, integer
      arrays) get none; a gradient for a floating-point constant array is dropped.
    """

    def __init__(self, name=None, *, check_modified=True):
        self.name = name or "graph"
        self.check_modified = check_modified
        self.params = {}
        self.inputs = []
        self._nodes = []
        self._gates = []
        self._by_name = {}
        self._input_specs = {}
        self._param_shapes = {}
        self._counts = {}
        self._output = None
        self._version = 0
        self._plan = None
        self._run = None

    def __repr__(self):
        return (f"<ComputationalGraph {self.name!r}: {len(self.inputs)} inputs, "
                f"{len(self.params)} params, {len(self._gates)} gates>")

    # -- building ---------------------------------------------------------------------------

    def input(self, name, shape=None):
        """A leaf fed at every `forward` as the keyword argument `name`.

        Parameters
        ----------
        name : str
            A Python identifier, unique in the graph.
        shape : str, optional
            A shape spec checked at every forward, one token per axis as in
            `layers.contract` (``"N D"``, ``"N 3"``, ``"N ..."``): a name binds a size
            across all inputs of one forward, so ``x: "N D"`` and ``y: "N"`` must agree on N.

        Returns
        -------
        Node
        """
        _check_leaf_name("input", name, "it is a keyword of forward")
        if shape is not None and not isinstance(shape, str):
            raise TypeError(f"input {name!r}: shape must be a spec string such as 'N D'; "
                            f"got {describe(shape)}")
        node = self._add_node(name, INPUT)
        self.inputs.append(name)
        if shape is not None:
            self._input_specs[name] = shape
        return node

    def param(self, name, value):
        """A leaf that holds its value (a weight); backward returns its gradient too.

        Parameters
        ----------
        name : str
            A Python identifier, unique in the graph; the key in `params` and in
            backward's dict.
        value : ndarray (float32 or float64) or Python number
            The initial value, stored in ``g.params[name]`` (not copied).

        Returns
        -------
        Node
        """
        _check_leaf_name("param", name, "it is a key of g.params and of backward's dict")
        value = _leaf_value(f"param {name!r}", value)
        if not is_float_array(value):
            raise TypeError(f"param {name!r}: value must be a floating-point array (float32 "
                            f"or float64); got {describe(value)}")
        node = self._add_node(name, PARAM)
        self.params[name] = value
        self._param_shapes[name] = np.shape(value)
        return node

    def gate(self, layer, *args, name=None, **options):
        """A call of a layer pair, fed nodes and constants.

        Parameters
        ----------
        layer : str, LayerSpec or (forward, backward)
            A registered layer name (``"add"``, ``"affine"``, ``"softmax_loss"``: the keys
            of `layers.registry.REGISTRY`) or a pair of the user's own under the layer
            contract.
        *args : Node, str or constant
            The forward's positional arguments, in order. A node (or the name of one: it
            is looked up when the graph first runs, so gates may be declared in any
            order) passes its value; anything else (a Python number, a parameter dict such
            as ``bn_param``, integer labels) is passed as it is.
        name : str, optional
            Unique in the graph; by default the layer name and a count (``add1``).
        **options
            Keyword options passed through to forward (``axis=1``, ``alpha=0.1``).

        Returns
        -------
        Node, or a tuple of K nodes for a layer with K outputs
            The number of outputs is read off the backward's signature: one upstream
            gradient per output, then the cache (``lstm_step_backward(dnext_h, dnext_c,
            cache)`` has 2). Output k of a gate ``s`` is named ``"s:k"``::

                h, c = g.gate("lstm_step", x, prev_h, prev_c, Wx, Wh, b, name="s")
        """
        forward, backward, label = _resolve_layer(layer)
        named = name is not None
        if not named:
            name = self._default_name(label)
        elif not isinstance(name, str):
            raise TypeError(f"gate ({label}): name must be a string; got {describe(name)}")
        elif not name:
            raise ValueError(f"gate ({label}): name must be a non-empty string; got ''")
        gate = Gate(len(self._gates), name, label, forward, backward, args, options, named)
        _check_call(gate)
        for position, arg in enumerate(args):
            if isinstance(arg, Node) and arg.graph is not self:
                raise ValueError(f"{gate.where}: argument {position} is node {arg.name!r} "
                                 f"of another ComputationalGraph ({arg.graph.name!r}); a "
                                 "gate is fed nodes of its own graph")
        count = _output_count(backward)
        names = [name] if count == 1 else [f"{name}:{k}" for k in range(count)]
        for taken in {name, *names}:
            self._check_free(taken, gate)
        self._gates.append(gate)
        if count > 1:
            self._by_name[name] = gate
        gate.outputs = tuple(self._add_node(node_name, GATE, gate, k)
                             for k, node_name in enumerate(names))
        return gate.outputs[0] if count == 1 else gate.outputs

    def maximum(self, x, y, name=None):
        """``gate("maximum", x, y)``: the router of the notes (the larger input gets all of
        the gradient).

        Parameters
        ----------
        x, y : Node, str or constant
            Broadcastable values, as for `gate`.
        name : str, optional
            As for `gate`.

        Returns
        -------
        Node
            The elementwise maximum, of the broadcast shape of x and y.
        """
        return self.gate("maximum", x, y, name=name)

    def output(self, node):
        """Make `node` the output: forward returns its value and backward starts from it.

        By default the output is the last gate's.

        Parameters
        ----------
        node : Node or str
            A node of this graph (any kind, any shape), or its name.

        Returns
        -------
        Node
            The output node.
        """
        self._output = self._node(node, "output")
        return self._output

    def node(self, name):
        """The node called `name`.

        Parameters
        ----------
        name : str
            An input's, a param's or a gate output's name (``"s:1"`` for output 1 of
            gate ``s``).

        Returns
        -------
        Node
        """
        return self._node(name, "node")

    # -- running ----------------------------------------------------------------------------

    def forward(self, **feeds):
        """Run every gate in topological order.

        Parameters
        ----------
        **feeds : ndarray or Python number
            One value per input, by name.

        Returns
        -------
        ndarray or NumPy scalar
            The output node's value, in its own shape (a loss returns a NumPy scalar).
            Every node's value stays readable: ``g.value(node)``, ``node.value``.
        """
        self._param_names("forward")
        values = self._feed_values(feeds)
        run = self._run_forward(values, self.params)
        # The caches hold the caller's arrays, not copies: backward must know whether they
        # still hold what forward read.
        if self.check_modified:
            run.fingerprints = _fingerprints(
                [(f"input {name!r}", value) for name, value in values.items()
                 if value is feeds[name]] +
                [(f"param {name!r}", self.params[name]) for name in self._param_shapes])
        self._run = run
        return run.values[self._output_node().id]

    def backward(self, dout=1.0, *, inputs=True):
        """Run every gate's backward in reverse topological order, from the output.

        Parameters
        ----------
        dout : float or ndarray of the output's shape
            The upstream gradient of the output; a number fills the output's shape (for
            a scalar loss, 1.0 gives the gradient of the loss).
        inputs : bool
            False when only the params' gradients are wanted (training): the gates
            reading an input are told that its gradient is not used
            (`layers.contract.skipping_gradients`), so that a first conv or affine layer
            does no work for the gradient of the data, and no input's gradient is
            computed or returned (``g.grad(input)`` is then None).

        Returns
        -------
        dict of str -> ndarray
            The gradient of every input (with `inputs`) and param that holds
            floating-point values, in its shape and dtype; zeros where the output does
            not depend on it. Computed
            afresh at every call: nothing accumulates across calls. Each array is a copy
            the caller owns: changing it in place changes neither ``g.grad(node)`` nor
            the next call's result. Every node's gradient stays readable:
            ``g.grad(node)``.

        Raises
        ------
        ValueError
            When an array fed to the last forward (or a param's array) was modified in
            place since: the caches hold it, so the gradients would be those of its new
            values at some gates and of its old values at others. The message names the
            input or param. Rebinding ``g.params[name]`` to a new array is fine. Not
            checked in a graph made with ``check_modified=False``.
        """
        run = self._current_run("backward")
        _check_fingerprints(run.fingerprints, "backward")
        skipped = () if inputs else tuple(self.inputs)
        self._run_backward(run, self._output_node(), dout, skipped)
        grads = {}
        for name in [*(self.inputs if inputs else ()), *self._param_names("backward")]:
            grad = _grad_of(run, self._by_name[name])
            # A copy: the graph keeps its own gradients (g.grad), a gate may hand one
            # array to two arguments (add's dx and dy are both dout), and dout is the
            # caller's. One copy per leaf costs little next to the backward pass.
            if grad is not None:
                grads[name] = grad.copy()
        return grads

    def value(self, node):
        """The value of `node` in the last forward pass.

        Parameters
        ----------
        node : Node or str
            A node of this graph, or its name.

        Returns
        -------
        ndarray or NumPy scalar
            The node's value, in its shape (an input's feed, a param's value, or what
            the gate's forward returned). The graph's own array: do not modify it.
        """
        node = self._node(node, "value")
        return self._current_run("value").values[node.id]

    def grad(self, node):
        """The gradient of the output with respect to `node`, from the last backward pass.

        Parameters
        ----------
        node : Node or str
            A node of this graph, or its name.

        Returns
        -------
        ndarray or None
            An array of the node's shape and dtype (zeros where the output does not depend
            on it), or None for a node holding integers (labels) and for an input after
            ``backward(inputs=False)``. The graph's own array:
            ``backward()`` returns copies to modify.
        """
        node = self._node(node, "grad")
        run = self._current_run("grad")
        if run.grads is None:
            raise RuntimeError(f"grad: no backward pass since the last forward; call "
                               f"backward() before reading the gradient of {node.name!r}")
        return _grad_of(run, node)

    def as_layer(self):
        """The graph as a layer pair, so that anything that takes a pair takes the graph.

        Returns
        -------
        forward : callable
            ``forward(*values) -> (out, cache)`` with one positional argument per input
            and then per param, in order of creation (its signature names them). It
            does not change the graph's params or its last forward pass.
        backward : callable
            ``backward(dout, cache)`` returning the gradient of every floating-point
            argument, in order (a bare array when there is one), as the contract says.

        ``checks.check_layer(*g.as_layer(), *values)`` checks the whole graph
        (`checks.check_graph` does that), and ``outer.gate(g.as_layer(), ...)`` makes the
        graph one gate of another graph.
        """
        param_names = self._param_names("as_layer")
        names = [*self.inputs, *param_names]

        def forward(*values):
            if len(values) != len(names):
                raise TypeError(f"{self.name}_forward: takes {len(names)} arguments "
                                f"({', '.join(names)}); got {len(values)}")
            feeds = dict(zip(self.inputs, values))
            params = {name: _leaf_value(f"param {name!r}", value)
                      for name, value in zip(param_names, values[len(self.inputs):])}
            run = self._run_forward(self._feed_values(feeds), params)
            # The contract gives gradients to the floating-point arrays passed, not to the
            # Python numbers that the graph turns into arrays.
            differentiable = [is_float_array(value) for value in values]
            return run.values[self._output_node().id], (run, differentiable)

        def backward(dout, cache):
            run, differentiable = cache
            self._run_backward(run, self._output_node(), dout)
            grads = [_grad_of(run, self._by_name[name])
                     for name, wanted in zip(names, differentiable) if wanted]
            return grads[0] if len(grads) == 1 else tuple(grads)

        forward.__name__ = f"{self.name}_forward"
        backward.__name__ = f"{self.name}_backward"
        if all(name.isidentifier() for name in names):
            forward.__signature__ = inspect.Signature(
                [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                 for name in names])
        return forward, backward

    def layer_args(self, **feeds):
        """The arguments of `as_layer`'s forward for `feeds`: each input's feed (Python
        numbers as float64 0-d arrays), then each param's current value.

        Returns
        -------
        tuple
        """
        params = self._param_names("layer_args")
        return (*self._feed_values(feeds).values(), *(self.params[name] for name in params))

    def draw(self, **options):
        """A matplotlib Figure of the circuit; see `graph.draw.draw`."""
        from .draw import draw

        return draw(self, **options)

    def to_dot(self):
        """Graphviz DOT text of the circuit; see `graph.draw.to_dot`."""
        from .draw import to_dot

        return to_dot(self)

    # -- the two passes -----------------------------------------------------------------------

    def _run_forward(self, leaf_values, params):
        """A new `_Run`: every gate's forward on `leaf_values` (inputs) and `params`."""
        order = self._structure()
        run = _Run(self._version, len(self._nodes), len(self._gates))
        values = run.values
        for name, value in leaf_values.items():
            values[self._by_name[name].id] = value
        for name in self._param_shapes:
            values[self._by_name[name].id] = self._param_value(name, params)
        for gate in order:
            args = gate.template.copy()
            for position, node_id in gate.slots:
                args[position] = values[node_id]
            try:
                result = gate.forward(*args, **gate.options)
            except Exception as exc:  # noqa: BLE001 - re-raised with the gate's name
                _note_gate(exc, gate, "forward", args)
                raise
            outputs = gate.outputs
            if not isinstance(result, tuple) or len(result) != len(outputs) + 1:
                wanted = "(out, cache)" if len(outputs) == 1 else \
                    f"{len(outputs)} outputs and a cache"
                got = f"a tuple of {len(result)}" if isinstance(result, tuple) else \
                    describe(result)
                raise ValueError(f"{gate.where}: forward must return {wanted} (its backward "
                                 f"takes {len(outputs)} upstream gradient"
                                 f"{'s' * (len(outputs) > 1)}); got {got}")
            for node, out in zip(outputs, result):
                values[node.id] = out if isinstance(out, (np.ndarray, np.generic)) else \
                    np.asarray(out)
            run.args[gate.id] = args
            run.caches[gate.id] = result[-1]
        return run

    def _run_backward(self, run, output, dout, skipped=()):
        """Fill ``run.grads`` and ``run.edge_grads`` from `dout` at `output`; the inputs
        named in `skipped` get no gradient, and the gates reading them are told so."""
        skipped_ids = {self._by_name[name].id for name in skipped}
        values = run.values
        grads = [None] * len(values)
        edge_grads = [None] * len(run.args)
        start = _start_gradient(output, values[output.id], dout)
        grads[output.id] = start
        for gate in reversed(self._structure()):
            upstream = [grads[node.id] for node in gate.outputs]
            if all(up is None for up in upstream):
                continue  # nothing flows back through a gate the output does not use
            args = run.args[gate.id]
            positions = gradient_positions(gate.forward, args)
            if not positions:
                continue
            # A user's backward gets arrays of its own: a node's gradient may be an array
            # that another gate also holds (add sends dout to both its inputs) or that the
            # graph reports (g.grad, the caller's dout), and a backward that writes into
            # its dout must change none of them. The library's backwards never write into
            # theirs (tests/layers/test_registry.py), so they read the gradients as held.
            private = not _is_library_backward(gate.backward)
            upstream = [np.zeros(np.shape(values[node.id]), values[node.id].dtype)
                        if up is None else up.copy() if private else up
                        for up, node in zip(upstream, gate.outputs)]
            unused = [position for position, node_id in gate.slots if node_id in skipped_ids]
            # Only a gate reading a skipped input pays for the context.
            context = (skipping_gradients(_names_at(gate.forward, len(args), unused))
                       if unused else contextlib.nullcontext())
            try:
                with context:
                    result = gate.backward(*upstream, run.caches[gate.id])
            except Exception as exc:  # noqa: BLE001 - re-raised with the gate's name
                _note_gate(exc, gate, "backward", args)
                raise
            sent = dict(zip(positions, _gradients(gate, result, positions, args)))
            edge_grads[gate.id] = sent
            for position, node_id in gate.slots:
                if position in sent and node_id not in skipped_ids:
                    _accumulate(grads, node_id, sent[position])
        run.grads, run.edge_grads, run.dout, run.output = grads, edge_grads, start, output
        run.skipped = frozenset(skipped_ids)

    # -- structure ----------------------------------------------------------------------------

    def gates_in_order(self):
        """The gates in topological order: each after the gates whose outputs it reads."""
        return list(self._structure())

    def _structure(self):
        """The gates in topological order; built once per structure, then reused."""
        if self._plan is None:
            self._resolve_arguments()
            self._plan = self._topological_order()
        return self._plan

    def _resolve_arguments(self):
        """Fill each gate's `slots` and `template`, looking up nodes given by name."""
        for gate in self._gates:
            slots = []
            template = list(gate.args)
            for position, arg in enumerate(gate.args):
                if isinstance(arg, str):
                    arg = self._node(arg, f"{gate.where}: argument {position}",
                                     hint="; a positional string names a node: pass strings "
                                          f"as keyword options (option={arg!r})")
                if isinstance(arg, Node):
                    slots.append((position, arg.id))
                    template[position] = None
            gate.slots = tuple(slots)
            gate.template = template

    def _topological_order(self):
        """Kahn's algorithm: a gate is ready when every gate feeding it has run.

        Iterative (no recursion limit); among ready gates the earliest created goes first,
        so a graph built in order runs in the order it was built.
        """
        gates, nodes = self._gates, self._nodes
        waiting = [0] * len(gates)
        feeds = [[] for _ in gates]
        for gate in gates:
            for _, node_id in gate.slots:
                producer = nodes[node_id].gate
                if producer is not None:
                    waiting[gate.id] += 1
                    feeds[producer.id].append(gate.id)
        ready = [gate.id for gate in gates if waiting[gate.id] == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            gate_id = heapq.heappop(ready)
            order.append(gates[gate_id])
            for consumer in feeds[gate_id]:
                waiting[consumer] -= 1
                if waiting[consumer] == 0:
                    heapq.heappush(ready, consumer)
        if len(order) < len(gates):
            raise ValueError(f"ComputationalGraph: the gates form a cycle: "
                             f"{self._cycle(waiting)}; a gate's inputs must not depend on "
                             "its own output")
        return order

    def _cycle(self, waiting):
        """One cycle among the gates Kahn's algorithm could not order, as text."""
        stuck = {gate_id for gate_id, count in enumerate(waiting) if count}

        def stuck_producer(gate_id):
            # A stuck gate waits for at least one producer that is stuck too.
            for _, node_id in self._gates[gate_id].slots:
                producer = self._nodes[node_id].gate
                if producer is not None and producer.id in stuck:
                    return producer.id

        path, seen = [], {}
        gate_id = min(stuck)
        while gate_id not in seen:
            seen[gate_id] = len(path)
            path.append(gate_id)
            gate_id = stuck_producer(gate_id)
        loop = path[seen[gate_id]:][::-1]          # producers first: the data's direction
        return " -> ".join(f"{self._gates[i].name!r} ({self._gates[i].layer})"
                           for i in [*loop, loop[0]])

    # -- helpers --------------------------------------------------------------------------

    def _add_node(self, name, kind, gate=None, index=0):
        if kind != GATE:
            self._check_free(name, f"{kind} {name!r}")
        node = Node(self, name, kind, len(self._nodes), gate, index)
        self._nodes.append(node)
        self._by_name[name] = node
        self._version += 1
        self._plan = None
        return node

    def _check_free(self, name, owner):
        """Refuse a name in use; `owner` (a Gate or a description) names who asked."""
        taken = self._by_name.get(name)
        if taken is not None:
            where = owner.where if isinstance(owner, Gate) else owner
            what = f"gate {taken.name!r}" if isinstance(taken, Gate) else \
                f"{taken.kind} {taken.name!r}"
            raise ValueError(f"{where}: the name {name!r} is already used by {what}")

    def _default_name(self, label):
        count = self._counts.get(label, 0)
        while True:
            count += 1
            name = f"{label}{count}"
            if name not in self._by_name:
                self._counts[label] = count
                return name

    def _node(self, node, where, hint=""):
        if isinstance(node, Node):
            if node.graph is not self:
                raise ValueError(f"{where}: node {node.name!r} belongs to another "
                                 f"ComputationalGraph ({node.graph.name!r})")
            return node
        found = self._by_name.get(node) if isinstance(node, str) else None
        if isinstance(found, Gate):
            raise ValueError(f"{where}: {node!r} is a gate with {len(found.outputs)} outputs; "
                             f"name one of them: {_listing([n.name for n in found.outputs])}")
        if not isinstance(found, Node):
            raise ValueError(f"{where}: {node!r} is not a node of this graph (nodes: "
                             f"{_listing(self._node_names())}){hint}")
        return found

    def _node_names(self):
        return [node.name for node in self._nodes]

    def _output_node(self):
        if self._output is not None:
            return self._output
        if not self._gates:
            raise ValueError("ComputationalGraph: no gates yet; add one with g.gate(...) "
                             "or choose an output with g.output(node)")
        last = self._gates[-1]
        if len(last.outputs) > 1:
            raise ValueError(f"ComputationalGraph: the last {last.where} has "
                             f"{len(last.outputs)} outputs; say which one is the output "
                             "with g.output(node)")
        return last.outputs[0]

    def _current_run(self, where):
        if self._run is None:
            raise RuntimeError(f"{where}: no forward pass yet; call forward(**feeds) first")
        if self._run.version != self._version:
            raise RuntimeError(f"{where}: the graph changed since the last forward pass; "
                               "call forward(**feeds) again")
        return self._run

    def _feed_values(self, feeds):
        """The feeds as arrays, after checking names, types and declared shapes."""
        missing = [name for name in self.inputs if name not in feeds]
        extra = [name for name in feeds if name not in self.inputs]
        if extra:
            kinds = [f"{name!r} (a param: set g.params[{name!r}])" if name in self.params
                     else repr(name) for name in extra]
            raise ValueError(f"forward: no input named {', '.join(kinds)}; the inputs are "
                             f"{_listing(self.inputs)}")
        if missing:
            raise ValueError(f"forward: missing feed for input{'s' * (len(missing) > 1)} "
                             f"{', '.join(map(repr, missing))}; the inputs are "
                             f"{_listing(self.inputs)}")
        check = Args("forward")
        values = {}
        for name in self.inputs:
            value = _leaf_value(f"forward: input {name!r}", feeds[name])
            spec = self._input_specs.get(name)
            if spec is not None:
                check.shape(name, np.asarray(value), spec)
            values[name] = value
        # NumPy's rule for Python scalars: a number fed beside float32 arrays is float32.
        arrays = [v for name, v in values.items() if not is_python_number(feeds[name])]
        floats = [v for v in arrays + list(self.params.values()) if is_float_array(v)]
        dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
        for name in self.inputs:
            if is_python_number(feeds[name]):
                values[name] = values[name].astype(dtype)
        return values

    def _param_names(self, where):
        """The names of the graph's params, in order of creation, after checking that
        ``g.params`` holds exactly them (an update rule may only change their values)."""
        params = list(self._param_shapes)
        missing = [name for name in params if name not in self.params]
        if missing:
            raise ValueError(f"{where}: param {missing[0]!r} is missing from g.params")
        extra = [name for name in self.params if name not in self._param_shapes]
        if extra:
            raise ValueError(f"{where}: g.params has {', '.join(map(repr, extra))}, which "
                             f"is not a param of the graph (its params are "
                             f"{_listing(params) or 'none'}); add a param with "
                             "g.param(name, value)")
        return params

    def _param_value(self, name, params):
        value = params[name]
        if not is_float_array(value):
            raise TypeError(f"forward: param {name!r} must be a floating-point array; got "
                            f"{describe(value)}")
        if np.shape(value) != self._param_shapes[name]:
            raise ValueError(f"forward: param {name!r} has shape {np.shape(value)}, but it "
                             f"was created with shape {self._param_shapes[name]}")
        return value


# -- the one place where gradients sum -----------------------------------------------------

def _is_library_backward(backward):
    """Whether `backward` is one of the library's own (a `layers.contract.backward_of`
    function defined in the layers package), which never writes into its arguments."""
    return (hasattr(backward, "forwards")
            and getattr(backward, "__module__", "").startswith("layers."))


def _accumulate(grads, node_id, grad):
    """Add `grad` to the gradient of node `node_id`: a value that fans out to several
    gates receives the SUM of their gradients (dz/dx = sum_i dz/dy_i dy_i/dx).

    A new array every time: a gate's gradient may be an array it also returned for another
    argument, or the upstream gradient itself (add's backward), so none is added into.
    """
    known = grads[node_id]
    # np.asarray: NumPy turns the sum of two 0-d arrays into a scalar.
    grads[node_id] = grad if known is None else np.asarray(known + grad)


# -- module helpers ---------------------------------------------------------------------------

def _resolve_layer(layer):
    """(forward, backward, label) for a registered name, a LayerSpec, or a pair."""
    if isinstance(layer, str):
        spec = REGISTRY.get(layer)
        if spec is None:
            close = difflib.get_close_matches(layer, list(REGISTRY), n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"gate: unknown layer {layer!r}{hint} A layer is a name in "
                             "layers.registry.REGISTRY or a (forward, backward) pair")
        return spec.forward, spec.backward, spec.name
    if isinstance(layer, LayerSpec):
        return layer.forward, layer.backward, layer.name
    if isinstance(layer, (tuple, list)) and len(layer) == 2 and all(map(callable, layer)):
        forward, backward = layer
        return forward, backward, pair_name(forward)
    raise TypeError(f"gate: layer must be a registered layer name or a (forward, backward) "
                    f"pair of callables; got {describe(layer)}")


def _output_count(backward):
    """How many outputs a layer has: its backward takes one upstream gradient per output,
    then the cache. A backward taking ``*args`` is taken to have one."""
    signature = _signature(backward)
    if signature is None:
        return 1
    parameters = signature.parameters.values()
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return 1
    required = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.default is p.empty]
    return max(1, len(required) - 1)


def _check_leaf_name(kind, name, why):
    """Refuse a name for an input or param that is not a Python identifier."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{kind}: name must be a Python identifier ({why}); got {name!r}")


@functools.lru_cache(maxsize=512)
def _signature(function):
    """The signature of `function`, or None where it cannot be read (some builtins)."""
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _check_call(gate):
    """Refuse, when the gate is declared, arguments and options its forward cannot take
    (an unknown option would otherwise fail only at the first forward)."""
    signature = _signature(gate.forward)
    if signature is None:
        return
    try:
        signature.bind_partial(*gate.args, **gate.options)
    except TypeError as exc:
        name = getattr(gate.forward, "__name__", "forward")
        raise TypeError(f"{gate.where}: {name}{signature} cannot be called with these "
                        f"arguments: {exc}") from None


def _leaf_value(where, value):
    """A feed or param value as an array: Python numbers become float64 0-d arrays."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.generic)):
        return np.array(float(value))
    if isinstance(value, np.generic):
        return np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{where} must be a NumPy array or a Python number; got "
                        f"{describe(value)}")
    return value


# The fingerprint of an array: a 64-bit weighted sum of its bytes read as unsigned 64-bit
# words, w_1 * word_1 + w_2 * word_2 + ... mod 2**64, with odd weights (so that a change of
# any one word always changes the sum) drawn once from a fixed seed, and different per
# position (so that moving words, a shuffle of the rows, changes it too). The weights
# repeat every _BLOCK words, each block's sum multiplied into the running total by an odd
# constant, so that the memory used is fixed whatever the feed's size. An array of at most
# _SMALL_BYTES (a mini-batch, a layer's weights) is kept as a copy of its bytes instead:
# exact, and a copy and a memcmp cost several times less than reading it as words
# (benchmarks/bench_graph.py times the whole check), at a memory cost bounded per array.
_BLOCK = 8192
_WEIGHTS = np.random.default_rng(20_231_105).integers(0, 2**63, _BLOCK, dtype=np.uint64) \
    * np.uint64(2) + np.uint64(1)
_BLOCK_FACTOR = 0x9E3779B97F4A7C15   # 2**64 / golden ratio, odd: Knuth's multiplicative hash
_MASK = (1 << 64) - 1
_SMALL_BYTES = 1 << 20


def _fingerprint(array):
    """(shape, dtype, checksum or bytes) of `array`; None for an object array, whose
    bytes are references."""
    if array.dtype.hasobject:
        return None
    if array.nbytes <= _SMALL_BYTES:
        return array.shape, array.dtype, array.tobytes()
    raw = array.ravel(order="K").view(np.uint8)   # a view, unless `array` is strided
    whole = raw.size - raw.size % 8
    total = int.from_bytes(raw[whole:].tobytes(), "little")
    words = raw[:whole].view(np.uint64)
    for start in range(0, words.size, _BLOCK):
        block = words[start:start + _BLOCK]
        weighted = int(np.add.reduce(block * _WEIGHTS[:block.size]))
        total = (total * _BLOCK_FACTOR + weighted) & _MASK
    return array.shape, array.dtype, total


def _fingerprints(named_arrays):
    """[(label, array, fingerprint)] for each (label, ndarray) of `named_arrays`."""
    return [(label, array, _fingerprint(array)) for label, array in named_arrays
            if isinstance(array, np.ndarray)]


def _check_fingerprints(fingerprints, where):
    """Refuse, naming it, an array whose fingerprint changed since it was taken."""
    for label, array, fingerprint in fingerprints:
        if _fingerprint(array) != fingerprint:
            raise ValueError(
                f"{where}: {label} was modified in place after forward read it; the "
                f"layers' caches hold that array, so the gradients would mix its old and "
                f"new values. Call forward again after changing it, or change a copy")


def _names_at(forward, count, positions):
    """The names of `forward`'s arguments at `positions` (of `count` passed)."""
    names = argument_names(forward, count)
    return tuple(names[position] for position in positions)


def _grad_of(run, node):
    """The gradient of `node` in `run`: zeros where no gradient arrived, None for a node
    that holds integers (labels) or an input whose gradient was skipped."""
    grad = run.grads[node.id]
    if grad is not None:
        return grad
    value = run.values[node.id]
    if not is_float_array(value) or node.id in run.skipped:
        return None
    return np.zeros(np.shape(value), np.asarray(value).dtype)


def _start_gradient(output, value, dout):
    """The upstream gradient at the output: `dout` filled or checked to its shape."""
    if not is_float_array(value):
        raise ValueError(f"backward: the output {output.name!r} is not floating-point "
                         f"({describe(value)}); nothing to differentiate")
    dtype, shape = np.asarray(value).dtype, np.shape(value)
    if isinstance(dout, numbers.Real) and not isinstance(dout, bool):
        return np.full(shape, dout, dtype=dtype)
    if not isinstance(dout, (np.ndarray, np.generic)):
        raise TypeError(f"backward: dout must be a number or an array; got {describe(dout)}")
    if np.shape(dout) != shape:
        raise ValueError(f"backward: dout must have the shape of the output "
                         f"{output.name!r}, {shape}; got dout.shape = {np.shape(dout)}")
    return np.asarray(dout, dtype=dtype)


def _gradients(gate, result, positions, args):
    """The gradients a gate's backward returned, as a list matching `positions`, after
    checking them against the layer contract (`layers.contract.match_gradients`)."""
    grads, problems = match_gradients(
        result, args, positions, lambda p: f"argument {p} ({_argument(gate, p, args[p])})")
    if problems:
        kind, message = problems[0]
        raise kind(f"{gate.where}: {message}")
    return grads


def _note_gate(exc, gate, phase, args):
    """Attach to `exc`, raised inside a gate, a note naming the gate and what it was fed.

    The exception itself is re-raised unchanged: its type, message and attributes
    (a KeyError's key, an OSError's errno) stay what the layer raised, so ``except
    ValueError`` and ``pytest.raises(..., match=...)`` keep working, and the traceback
    prints the note below the message (PEP 678). Python 3.10 has no ``add_note``; there
    the note is set as ``__notes__`` directly, which the ``exceptiongroup`` backport,
    pytest and IPython print too. Building a new exception of the same type instead
    would break for types whose constructors take other arguments.
    """
    fed = "; ".join(f"{position}: {_argument(gate, position, arg)}"
                    for position, arg in enumerate(args))
    note = f"{gate.where}: raised in its {phase}\n  arguments: {fed}"
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python 3.10
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]


def _argument(gate, position, value):
    """How a message describes argument `position` of a gate: its node and its value."""
    arg = gate.args[position]
    if isinstance(arg, Node):
        source = f"node {arg.name!r}"
    elif isinstance(arg, str):
        source = f"node {arg!r}"
    else:
        source = "constant"
    return f"{source}, {describe(value)}"


def _listing(names):
    shown = ", ".join(map(repr, names[:12]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
