"""Check a whole ComputationalGraph: its backward against central differences of forward.

The graph is turned into one layer pair (`ComputationalGraph.as_layer`) whose arguments
are the graph's inputs and params, so `check_layer` does the checking and the report has
one row per input and param, exactly as for a layer.
"""

from layers.contract import describe

from .checker import check_layer

__all__ = ["check_graph"]


def check_graph(graph, *, tol=None, seed=0, strategy="auto", nudge_kinks=False,
                raise_on_fail=False, **feeds):
    """Compare ``graph.backward()`` with central differences of ``graph.forward()``.

    Parameters
    ----------
    graph : ComputationalGraph
        Its params are used at their current values (never modified), its output is the
        one `backward` starts from. The graph's last forward and backward passes are
        left as they were.
    tol, seed, strategy, nudge_kinks, raise_on_fail
        As for `checks.check_layer` (an input of the graph cannot share these names).
    **feeds : ndarray or Python number
        One value per input of the graph, as for ``graph.forward``. Python numbers become
        float64 0-d arrays, so they are checked too; integer arrays (labels) are listed
        as having no gradient.

    Returns
    -------
    GradReport
        One row per input, then per param, in order of creation.

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
    forward, backward = graph.as_layer()
    return check_layer(forward, backward, *graph.layer_args(**feeds), tol=tol, seed=seed,
                       strategy=strategy, nudge_kinks=nudge_kinks,
                       raise_on_fail=raise_on_fail, name=graph.name)
