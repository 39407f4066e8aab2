"""CS231n's classifier models, each a `Sequential` graph of layer pairs plus a softmax loss.

Every model has CS231n's interface, so CS231n's `Solver` code (and `training.solver.Solver`)
trains it unchanged:

- ``model.params``: a dict of name -> ndarray with CS231n's names: ``W1, b1, W2, ...``
  for affine and conv layers, ``gamma1, beta1, ...`` for the normalization after the
  i-th affine layer. It IS the graph's params dict: assigning ``model.params[name]`` (as
  an update rule does) changes the weights the next forward pass uses.
- ``model.loss(X)`` returns the class scores, shape (N, C), in test mode (batch norm uses
  its running statistics, dropout is off). ``model.loss(X, y)`` runs in train mode and
  returns ``(loss, grads)`` with a gradient per parameter.

How the graph is used: ``model.net`` is the network up to the scores, and the loss is
applied to its output (``softmax_loss``), so that scoring needs no labels feed and
training and testing run one graph::

    scores = net.forward(x=X)                      # every gate in topological order
    data_loss, dscores = softmax_loss(scores, y)
    grads = net.backward(dscores)                  # every gate in reverse

L2 regularization covers the weights only (not biases, not gamma/beta), as in CS231n:
loss += 0.5 * reg * sum_W sum(W**2), so dW += reg * W.
``model.net.draw()`` draws the circuit; ``checks.check_graph(model.net, x=X)`` checks it.

Randomness, as in CS231n: the initial weights are drawn from NumPy's global generator
(``weight_scale * np.random.randn(*shape)``, layer by layer), so that a notebook's
``np.random.seed(231)`` reproduces CS231n's numbers; ``weight_seed`` draws them from
``np.random.default_rng(weight_seed)`` instead. A model's ``seed`` means what it means in
CS231n: it fixes `FullyConnectedNet`'s dropout mask and never touches the weights. Like
CS231n's dropout, a seeded train-mode ``loss`` reseeds NumPy's global generator with it
(``np.random.seed(seed)``) before drawing the mask, so whatever is drawn from the global
generator after that call continues the seeded stream, as in the course's notebooks.
"""

import math
import numbers

import numpy as np

from layers import softmax_loss
from layers.contract import Args, describe
from layers.dropout import legacy_seed

from . import init
from .init import float_dtype
from graph.sequential import Sequential

__all__ = ["TwoLayerNet", "FullyConnectedNet", "ThreeLayerConvNet"]


class _Classifier:
    """What every model shares: `loss` on the graph `self.net`, L2 on the weights.

    Subclasses set ``self.net`` (a `Sequential` with input ``x``), ``self.reg``,
    ``self.dtype``, ``self.weights`` (names of the regularized params) and
    ``self.mode_params`` (the dicts whose ``'mode'`` follows train/test).
    """

    net: Sequential

    @property
    def params(self):
        return self.net.params

    @params.setter
    def params(self, new):
        # CS231n code sometimes rebinds model.params (its Solver does, after training):
        # copy the values into the graph's dict so that the graph sees them.
        where = f"{type(self).__name__}.params"
        if not isinstance(new, dict):
            raise TypeError(f"{where}: expected a dict of arrays; got {type(new).__name__}")
        if set(new) != set(self.net.params):
            raise ValueError(f"{where}: expected the names "
                             f"{sorted(self.net.params)}; got {sorted(new)}")
        # Check every value before copying any, so a bad dict leaves the model as it was.
        for name, old in self.net.params.items():
            value = new[name]
            if not isinstance(value, np.ndarray) or value.shape != old.shape \
                    or value.dtype != old.dtype:
                raise ValueError(f"{where}: {name} must be a {old.dtype} array of shape "
                                 f"{old.shape}; got {describe(value)}")
        self.net.params.update(new)

    def loss(self, X, y=None):
        """Class scores (without y), or the loss and the gradient of every parameter (with y).

        Parameters
        ----------
        X : ndarray of shape (N, ...), the model's input shape per example
            Cast to the model's dtype.
        y : integer ndarray of shape (N,), optional
            Labels in [0, C).

        Returns
        -------
        scores : ndarray of shape (N, C), when y is None
        (loss, grads) : (float, dict of name -> ndarray of the parameter's shape), else
        """
        X = np.asarray(X, dtype=self.dtype)
        mode = "test" if y is None else "train"
        for param in self.mode_params:
            param["mode"] = mode
        # The graph skips its checksums of X and the params (check_modified=False):
        # nothing runs between this forward and the backward below that could write
        # into them.
        scores = self.net.forward(x=X)
        if y is None:
            return scores
        data_loss, dscores = softmax_loss(scores, y)
        # Only the params' gradients: the first layer then skips the data's gradient.
        grads = self.net.backward(dscores, inputs=False)
        if not self.reg:
            # No weight-sized temporaries for a term that is 0 (CS231n's default).
            return data_loss, grads
        params = self.params
        reg_loss = 0.5 * self.reg * sum(np.sum(params[name] ** 2) for name in self.weights)
        for name in self.weights:
            # In place: the graph's gradients are new arrays, the caller's to change.
            grads[name] += self.reg * params[name]
        return data_loss + reg_loss, grads


class TwoLayerNet(_Classifier):
    """affine - relu - affine - softmax, CS231n's two-layer net.

    Parameters
    ----------
    input_dim : int
        D, the size of an input example (flattened).
    hidden_dim : int
        H, the hidden units.
    num_classes : int
        C.
    weight_scale : float or "he"
        Standard deviation of the normal initial weights (CS231n: 1e-3), or ``"he"`` for
        He initialization of W1 (ReLU follows it) and Xavier for W2.
    reg : float
        L2 strength (module docstring).
    weight_seed : int or np.random.Generator, optional
        Source of the initial weights; None draws them from NumPy's global generator, as
        CS231n does (module docstring).
    dtype : float32 or float64

    Attributes
    ----------
    params : W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)
    net : Sequential
        The graph from ``x`` to the scores.
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0, *, weight_seed=None, dtype=np.float64):
        check = Args("TwoLayerNet")
        self.reg = check.number("reg", reg, low=0)
        self.dtype = float_dtype(check, dtype)
        dims = [check.integer(name, value, low=1) for name, value in
                (("input_dim", input_dim), ("hidden_dim", hidden_dim),
                 ("num_classes", num_classes))]
        W1, W2 = _affine_weights(check, weight_seed, dims, weight_scale, self.dtype)
        self.net = Sequential(("affine", {"W1": W1, "b1": np.zeros(dims[1], self.dtype)}),
                              "relu",
                              ("affine", {"W2": W2, "b2": np.zeros(dims[2], self.dtype)}),
                              name="two_layer_net", check_modified=False)
        self.weights = ["W1", "W2"]
        self.mode_params = []


class FullyConnectedNet(_Classifier):
    """{affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax.

    Parameters
    ----------
    hidden_dims : list of int
        The sizes of the L - 1 hidden layers.
    input_dim : int
    num_classes : int
    dropout_keep_ratio : float in (0, 1]
        Probability of KEEPING a unit (CS231n's ``dropout_keep_ratio``, the ``p`` of
        `layers.dropout_forward`); 1 means no dropout layers.
    normalization : {None, "batchnorm", "layernorm"}
        After each hidden affine layer; its ``gamma{i}`` start at 1 and ``beta{i}`` at 0.
    reg : float
        L2 strength on the W's (module docstring).
    weight_scale : float or "he"
        Standard deviation of the normal initial weights (CS231n: 1e-2), or ``"he"``
        (He initialization for the layers followed by ReLU, Xavier for the last).
    dtype : float32 or float64
        float64 by default (CS231n's default is float32; its notebooks pass float64
        wherever they check numbers).
    seed : int in [0, 2**32), optional
        As in CS231n, fixes the dropout mask: every call drops the same units (CS231n's
        mask for that seed), so that gradients can be checked. It does not touch the
        weights, but a train-mode ``loss`` reseeds NumPy's global generator with it, as
        CS231n's dropout does (`layers.dropout_forward`). `training.solver.Solver`
        draws a fresh mask per iteration during training (from its own seed). Without it
        the masks come from NumPy's global generator.
    dropout : float in (0, 1], optional
        CS231n 2019's name for ``dropout_keep_ratio`` (also a KEEP probability); give one
        of the two.
    weight_seed : int or np.random.Generator, optional
        Source of the initial weights; None draws them from NumPy's global generator, as
        CS231n does (module docstring).

    Attributes
    ----------
    params : W1..WL, b1..bL, and gamma1..gamma(L-1), beta1..beta(L-1) with normalization
    bn_params : list of dict
        The state of each normalization layer (batch norm's running mean and variance).
    dropout_param : dict
        ``{"mode", "p", ["seed"]}``, present when dropout is used.
    net : Sequential
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10,
                 dropout_keep_ratio=1.0, normalization=None, reg=0.0, weight_scale=1e-2,
                 dtype=np.float64, seed=None, *, dropout=None, weight_seed=None):
        check = Args("FullyConnectedNet")
        self.reg = check.number("reg", reg, low=0)
        self.dtype = float_dtype(check, dtype)
        self.normalization = check.choice("normalization", normalization,
                                          (None, "batchnorm", "layernorm"))
        keep = _keep_ratio(check, dropout_keep_ratio, dropout)
        if not isinstance(hidden_dims, (list, tuple)):
            raise check.error(f"hidden_dims must be a list of ints; got "
                              f"{describe(hidden_dims)}", TypeError)
        dims = [check.integer("input_dim", input_dim, low=1)] + \
            [check.integer(f"hidden_dims[{k}]", h, low=1) for k, h in enumerate(hidden_dims)] + \
            [check.integer("num_classes", num_classes, low=1)]
        self.num_layers = len(dims) - 1
        if seed is not None:
            seed = legacy_seed(check, "seed", seed)
        weights = _affine_weights(check, weight_seed, dims, weight_scale, self.dtype)
        self.use_dropout = keep < 1
        self.dropout_param = {"mode": "train", "p": keep} if self.use_dropout else {}
        if self.use_dropout and seed is not None:
            self.dropout_param["seed"] = seed
        self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)] \
            if normalization else []

        entries = []
        for i, W in enumerate(weights, start=1):
            entries.append(("affine", {f"W{i}": W, f"b{i}": np.zeros(dims[i], self.dtype)}))
            if i == self.num_layers:
                break
            if normalization:
                entries.append((normalization,
                                {f"gamma{i}": np.ones(dims[i], self.dtype),
                                 f"beta{i}": np.zeros(dims[i], self.dtype)},
                                {"bn_param" if normalization == "batchnorm" else "ln_param":
                                 self.bn_params[i - 1]}))
            entries.append("relu")
            if self.use_dropout:
                entries.append(("dropout", {}, {"dropout_param": self.dropout_param}))
        self.net = Sequential(*entries, name="fully_connected_net",
                              check_modified=False)
        self.weights = [f"W{i}" for i in range(1, self.num_layers + 1)]
        self.mode_params = [*self.bn_params, *([self.dropout_param] if self.use_dropout
                                               else [])]


class ThreeLayerConvNet(_Classifier):
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax, CS231n's convnet.

    The convolution keeps the spatial size (stride 1, zero padding (filter_size - 1) / 2);
    the pool halves it.

    Parameters
    ----------
    input_dim : (C, H, W)
        One example's shape; H and W must be even.
    num_filters : int
    filter_size : int, odd
    hidden_dim : int
    num_classes : int
    weight_scale : float or "he"
        Standard deviation of the normal initial weights (CS231n: 1e-3), or ``"he"``
        (He for the conv and hidden affine layers, Xavier for the last).
    reg : float
    dtype : float32 or float64
        float64 by default (CS231n's default is float32).
    weight_seed : int or np.random.Generator, optional
        Source of the initial weights; None draws them from NumPy's global generator, as
        CS231n does (module docstring).

    Attributes
    ----------
    params : W1 (F, C, HH, WW), b1 (F,), W2 (F * H/2 * W/2, hidden), b2, W3 (hidden, C), b3
    net : Sequential
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float64, *,
                 weight_seed=None):
        check = Args("ThreeLayerConvNet")
        self.reg = check.number("reg", reg, low=0)
        self.dtype = float_dtype(check, dtype)
        if not isinstance(input_dim, (tuple, list)) or len(input_dim) != 3:
            raise check.error(f"input_dim must be a tuple (C, H, W) of 3 ints; got "
                              f"{input_dim!r}")
        C, H, W = (check.integer("input_dim", d, low=1) for d in input_dim)
        if H % 2 or W % 2:
            raise check.error(f"input_dim must have even H and W for the 2x2 pool; got "
                              f"{input_dim!r}")
        F = check.integer("num_filters", num_filters, low=1)
        size = check.integer("filter_size", filter_size, low=1)
        if size % 2 == 0:
            raise check.error(f"filter_size must be odd to keep the spatial size; got {size}")
        hidden = check.integer("hidden_dim", hidden_dim, low=1)
        classes = check.integer("num_classes", num_classes, low=1)
        shapes = [(F, C, size, size), (F * (H // 2) * (W // 2), hidden), (hidden, classes)]
        W1, W2, W3 = _initial_weights(check, weight_seed, shapes, weight_scale, self.dtype)
        self.conv_param = {"stride": 1, "pad": (size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        self.net = Sequential(
            ("conv", {"W1": W1, "b1": np.zeros(F, self.dtype)},
             {"conv_param": self.conv_param}),
            "relu",
            ("max_pool", {}, {"pool_param": self.pool_param}),
            ("affine", {"W2": W2, "b2": np.zeros(hidden, self.dtype)}),
            "relu",
            ("affine", {"W3": W3, "b3": np.zeros(classes, self.dtype)}),
            name="three_layer_convnet", check_modified=False)
        self.weights = ["W1", "W2", "W3"]
        self.mode_params = []


def _affine_weights(check, weight_seed, dims, weight_scale, dtype):
    """The weights of affine layers dims[0] -> dims[1] -> ... -> dims[-1]."""
    shapes = list(zip(dims[:-1], dims[1:]))
    return _initial_weights(check, weight_seed, shapes, weight_scale, dtype)


def _initial_weights(check, weight_seed, shapes, weight_scale, dtype):
    """One weight per shape, in order: normal with std `weight_scale` (CS231n), or "he"
    for every layer followed by ReLU and Xavier for the last (followed by the softmax).

    The standard normals come from ``np.random.default_rng(weight_seed)``, or from NumPy's
    global generator when `weight_seed` is None (CS231n's ``np.random.randn``).
    """
    if weight_seed is None:
        draw = np.random.standard_normal
    elif isinstance(weight_seed, np.random.Generator) or (isinstance(
            weight_seed, numbers.Integral) and not isinstance(weight_seed, bool)):
        draw = np.random.default_rng(weight_seed).standard_normal
    else:
        raise check.error(f"weight_seed must be an int or a np.random.Generator; got "
                          f"{describe(weight_seed)}", TypeError)
    if weight_scale == "he":
        stds = [init.RELU_GAIN / math.sqrt(init.fans(shape)[0]) for shape in shapes[:-1]]
        stds.append(math.sqrt(2.0 / sum(init.fans(shapes[-1]))))
    elif isinstance(weight_scale, str):
        raise check.error(f"weight_scale must be a number or 'he'; got {weight_scale!r}")
    else:
        stds = [check.number("weight_scale", weight_scale, low=0)] * len(shapes)
    return [(std * draw(shape)).astype(dtype) for std, shape in zip(stds, shapes)]


def _keep_ratio(check, dropout_keep_ratio, dropout):
    """The keep probability from 2021's `dropout_keep_ratio` or 2019's `dropout`."""
    keep = check.number("dropout_keep_ratio", dropout_keep_ratio, low=0, high=1,
                        low_open=True)
    if dropout is None:
        return keep
    old = check.number("dropout", dropout, low=0, high=1, low_open=True)
    if keep != 1 and old != keep:
        raise check.error(f"dropout (CS231n 2019's name) and dropout_keep_ratio are the "
                          f"same setting (probability of keeping a unit) but differ: "
                          f"dropout = {dropout!r}, dropout_keep_ratio = "
                          f"{dropout_keep_ratio!r}")
    return old
