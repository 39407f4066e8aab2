"""Check a whole ComputationalGraph, and find the gate whose backward is wrong.

The graph is turned into one layer pair (`ComputationalGraph.as_layer`) whose arguments
are the graph's inputs and params, so `check_layer` does the checking and the report has
one row per input and param, exactly as for a layer. When that check fails, every gate
is checked on its own at the values it was called with in a forward pass at the same
feeds (``localize=True``, the default): a gate whose backward disagrees with its own
forward is named, one line per gate, so a graph of correct gates and one wrong one
points at that one.
"""

from dataclasses import replace

from layers.contract import argument_names, describe, gradient_positions

from .fixed_randomness import FixedCalls
from .checker import check_layer_with, check_pair, numbers_as_arrays
from .options import DIRECTIONS, CheckOptions

__all__ = ["check_graph"]


def check_graph(graph, *, tol=None, seed=0, strategy="auto", directions=DIRECTIONS,
                nudge_kinks=False, localize=True, raise_on_fail=False, **feeds):
    """Compare ``graph.backward()`` with central differences of ``graph.forward()``.

    Parameters
    ----------
    graph : ComputationalGraph
        Its params are used at their current values (never modified), its output is the
        one `backward` starts from. The graph's last forward and backward passes are
        left as they were.
    tol, seed, strategy, directions, nudge_kinks, raise_on_fail
        The check's options: see `CheckOptions` (an input of the graph cannot share these
        names). The report is named after the graph.
    localize : bool
        When the graph's gradient is wrong, check every gate at the values it saw in a
        forward pass at `feeds`, and list them in ``report.gates`` (printed one line per
        gate, the ones whose backward disagrees with their forward marked FAILED).
    **feeds : ndarray or Python number
        One value per input of the graph, as for ``graph.forward``. Python numbers become
        float64 0-d arrays, so they are checked too; integer arrays (labels) are listed
        as having no gradient.

    Returns
    -------
    GradReport
        One row per input, then per param, in order of creation; ``report.gates`` holds
        (gate, GradReport) for every gate checked by `localize`.

    Examples
    --------
    >>> from graph import ComputationalGraph
    >>> g = ComputationalGraph(); x, y = g.input("x"), g.input("y")
    >>> _ = g.gate("multiply", x, y)
    >>> check_graph(g, x=3.0, y=-2.0).ok
    True
    """
    from graph import ComputationalGraph  # here: the graph package imports layers

    if not isinstance(graph, ComputationalGraph):
        raise TypeError(f"check_graph: graph must be a ComputationalGraph (its first "
                        f"argument); got {describe(graph)}")
    options = CheckOptions(tol=tol, seed=seed, strategy=strategy, directions=directions,
                           nudge_kinks=nudge_kinks, raise_on_fail=raise_on_fail,
                           caller="check_graph")
    forward, backward = graph.as_layer()
    args = numbers_as_arrays(forward, graph.layer_args(**feeds))
    # The graph's backward records every gradient in the run it is given, by design: a
    # write into the cache that is no misbehaviour.
    report = check_pair(forward, backward, args, {}, argument_names(forward, len(args)),
                        graph.name, options, watch_cache=False)
    if localize and not report.ok:
        try:
            calls = _gate_calls(graph, forward, args)
        except Exception as exc:  # noqa: BLE001 - the report already says what failed
            report.notes.append(f"gates not checked one by one: the forward pass raised "
                                f"{type(exc).__name__}")
            calls = []
        per_gate = replace(options, nudge_kinks=False, raise_on_fail=False)
        report.gates = [(gate.where, check_layer_with(replace(per_gate, name=gate.name),
                                                      gate.forward, gate.backward, values,
                                                      gate.options))
                        for gate, values in calls]
    if options.raise_on_fail:
        report.raise_if_failed()
    return report


def _gate_calls(graph, forward, args):
    """Every gate of `graph` with the positional arguments it got in a forward pass at
    `args` (the arguments of the graph's layer pair), in topological order.

    The pass runs with NumPy's global random state fixed as in the check, so a gate
    drawing from it sees the values the check saw.
    """
    with FixedCalls(forward) as calls:
        _, (run, _) = calls(args, {})
    return [(gate, run.args[gate.id]) for gate in graph.gates_in_order()
            if gradient_positions(gate.forward, run.args[gate.id])]
