"""Sequential: the common network, a chain of layers ending in a loss, as one graph."""

from layers.contract import describe
from layers.registry import LayerSpec

from .computational_graph import ComputationalGraph

__all__ = ["Sequential"]


class Sequential(ComputationalGraph):
    """A `ComputationalGraph` that chains layers, each fed the previous one's output.

    Parameters
    ----------
    *layers : each a layer, or ``(layer, params)``, or ``(layer, params, options)``
        ``layer`` is a registered layer name or a ``(forward, backward)`` pair, as in
        `ComputationalGraph.gate`. ``params`` is a dict of name -> initial array, passed
        after the running value in its order (``{"W1": w, "b1": b}`` for
        ``affine_forward(x, w, b)``); each becomes a param of the graph. ``options`` is a
        dict of keyword arguments for the forward (``{"bn_param": {"mode": "train"}}``,
        ``{"alpha": 0.1}``).
    loss : str or (forward, backward), optional
        A loss layer ``loss_forward(scores, labels)``; it is the graph's output, fed the
        input named `labels`. Without it, the output is the last layer's.
    input, labels : str
        Names of the data and label inputs (``forward(x=..., y=...)``).
    input_shape : str, optional
        Shape spec of the data input, checked at every forward (``"N D"``).
    name : str, optional
    check_modified : bool
        As for `ComputationalGraph`: whether backward refuses arrays modified in place
        since forward.

    Attributes
    ----------
    scores : Node
        The last layer's output (the scores, when a loss follows).
    loss : Node or None

    Examples
    --------
    A two-layer net with softmax cross-entropy (``w1`` of shape (D, H), ...)::

        net = Sequential(("affine", {"W1": w1, "b1": b1}), "relu",
                         ("affine", {"W2": w2, "b2": b2}), loss="softmax_loss")
        loss = net.forward(x=X, y=labels)
        grads = net.backward()        # {"x": ..., "W1": ..., "b1": ..., "W2": ..., "b2": ...}
        scores = net.scores.value
    """

    def __init__(self, *layers, loss=None, input="x", labels="y", input_shape=None,
                 name=None, check_modified=True):
        super().__init__(name or "sequential", check_modified=check_modified)
        node = self.input(input, shape=input_shape)
        for position, entry in enumerate(layers):
            layer, params, options = _entry(position, entry)
            weights = [self.param(param, value) for param, value in params.items()]
            node = self.gate(layer, node, *weights, **options)
            if isinstance(node, tuple):
                raise ValueError(f"Sequential: layer {position} ({self._gates[-1].layer}) "
                                 f"has {len(node)} outputs; a chain passes on one")
        self.scores = node
        self.loss = None
        if loss is not None:
            self.loss = self.gate(loss, node, self.input(labels), name="loss")


def _entry(position, entry):
    """(layer, params, options) from one entry of `Sequential`'s layer list."""
    if _is_layer(entry):
        return entry, {}, {}
    if not isinstance(entry, tuple) or len(entry) not in (2, 3) or not _is_layer(entry[0]):
        raise TypeError(f"Sequential: layer {position} must be a layer (a registered name "
                        f"or a (forward, backward) pair) or (layer, params[, options]); got "
                        f"{describe(entry)}")
    layer, params, options = (*entry, {}) if len(entry) == 2 else entry
    if not isinstance(params, dict):
        raise TypeError(f"Sequential: layer {position}'s params must be a dict of name -> "
                        f"initial array ({{'W1': w1, 'b1': b1}}); got {describe(params)}")
    if not isinstance(options, dict):
        raise TypeError(f"Sequential: layer {position}'s options must be a dict of "
                        f"keyword arguments; got {describe(options)}")
    return layer, params, options


def _is_layer(entry):
    """Whether `entry` is what `ComputationalGraph.gate` takes as a layer."""
    return isinstance(entry, (str, LayerSpec)) or (
        isinstance(entry, (tuple, list)) and len(entry) == 2 and all(map(callable, entry)))
