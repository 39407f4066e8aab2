"""Export a gatelab model to PyTorch: ``to_torch(model) -> torch.nn.Module``.

``to_torch`` takes a `TwoLayerNet`, a `FullyConnectedNet` (with batch or layer norm and
dropout), a `ThreeLayerConvNet` or a `graph.Sequential`, and returns a module
(`TorchNet`) whose parameters hold copies of the model's weights, laid out as torch lays
them out. In float64 its scores, its loss and every gradient equal gatelab's to 1e-10
(relative), in train and in eval mode; training then continues in torch, on any device
(``net.to("cuda")``). torch is imported when ``to_torch`` is called.

The mapping, layer by layer (gatelab's layer and arguments -> torch's module, with the
parameter layouts; the exported module's children are named after the graph's gates):

=======================================  ===============================================
gatelab                                  torch
=======================================  ===============================================
affine(x, w (D, M), b (M,))              `Affine`, an ``nn.Linear(D, M)`` that flattens
                                         x (N, d_1, ..., d_k) to (N, D) first:
                                         weight = w.T, (M, D); bias = b
relu, sigmoid, tanh, silu, gelu          ``nn.ReLU``, ``nn.Sigmoid``, ``nn.Tanh``,
                                         ``nn.SiLU``, ``nn.GELU()``
gelu_tanh                                ``nn.GELU(approximate="tanh")``
leaky_relu(alpha), elu(alpha)            ``nn.LeakyReLU(alpha)``, ``nn.ELU(alpha)``
dropout, dropout_param p                 ``nn.Dropout(1 - p)``: gatelab's p is the
                                         probability of KEEPING a unit, torch's of
                                         dropping it; both scale the kept units by 1 / keep
batchnorm, bn_param {eps, momentum m,    ``nn.BatchNorm1d(D, eps, momentum=1 - m)``:
running_mean, running_var}               weight = gamma, bias = beta, the running
                                         statistics copied (gatelab's zeros when absent)
spatial_batchnorm                        ``nn.BatchNorm2d(C, eps, momentum=1 - m)``, the same
layernorm(x (..., D)), ln_param eps      ``nn.LayerNorm(D, eps)``: weight = gamma, bias = beta
spatial_groupnorm(G), gn_param eps       ``nn.GroupNorm(G, C, eps)``: weight = gamma, bias =
                                         beta, as (C,) (gatelab's may be (1, C, 1, 1))
conv, conv_naive (w (F, C, HH, WW),      ``nn.Conv2d(C, F, (HH, WW), stride, pad,
conv_param stride, pad, dilation)        dilation)``: weight = w, the same layout (both are
                                         cross-correlations); bias = b
max_pool, max_pool_naive, avg_pool       ``nn.MaxPool2d``, ``nn.AvgPool2d`` with kernel
(pool_height, pool_width, stride)        (pool_height, pool_width) and the stride
global_avg_pool                          ``nn.AdaptiveAvgPool2d(1)`` then ``nn.Flatten()``
affine_relu, conv_relu, conv_relu_pool,  an ``nn.Sequential`` of the parts above
conv_bn_relu
softmax_loss (the models' loss)          ``F.cross_entropy`` (mean over the batch)
svm_loss                                 C * ``F.multi_margin_loss(p=1, margin=1)``: torch
                                         also divides each example's sum by C
sigmoid_cross_entropy_loss, mse_loss     ``F.binary_cross_entropy_with_logits``,
                                         ``F.mse_loss`` (means over all elements)
=======================================  ===============================================

Conventions that differ, and what the export does about them:

- Modes: gatelab's models switch between train and test mode by the dicts they hold
  (``bn_param['mode']``, ``dropout_param['mode']``); the exported module by
  ``net.train()`` / ``net.eval()``. It starts in train mode, as torch modules do.
- Batch norm's running statistics: gatelab's momentum m is the weight of the OLD running
  value, torch's momentum the weight of the NEW batch statistic, so torch's is 1 - m
  (gatelab's default 0.9 is torch's default 0.1). The running mean then follows the same
  update in both. The running variance does not: torch updates it with the unbiased
  batch variance (divided by N - 1), gatelab with the biased one, so after a train step
  torch's running_var is larger by (1 - m) * var / (N - 1) (N: the values per feature).
  The normalization itself (biased batch variance in train mode, the running statistics
  in eval mode) is the same, so scores, loss and gradients agree.
- Dropout: torch draws its masks from its own generator, so the units dropped differ;
  the distribution of the masks (keep with probability p, scale by 1 / p) is the same.
  A gatelab model built with a dropout ``seed`` drops the same units at every call
  (CS231n's gradient-check convention); the exported ``nn.Dropout`` draws a new mask at
  every call.
- Regularization: ``net.loss(x, y)`` adds gatelab's 0.5 * reg * sum(W ** 2) over the
  model's weights (not biases, gamma or beta). To train with torch's
  ``weight_decay=reg`` instead, which adds reg * W to those gradients, set
  ``net.reg = 0`` and give the weights their own parameter group.
- dtype and device: the parameters have the model's dtype (float64 or float32) and sit on
  the CPU; feed tensors of that dtype (gatelab casts X, torch does not).
- Max pool ties: both route the gradient to the first maximal element of a window.

Back from torch: ``net.load_into(model)`` writes the module's state into a gatelab model
built as the exported one (the exported model itself, or a fresh one): the weights into
``model.params`` and batch norm's running statistics into the ``bn_param`` dicts the
model's gates read, so that its test-mode scores equal the module's eval-mode scores.
``net.gatelab_params()``, ``net.gatelab_running_stats()`` and ``net.gatelab_grads()``
give the weights, the running statistics and the gradients as NumPy arrays under
gatelab's names and in gatelab's layouts (w = weight.T).
"""

import functools
import inspect

import numpy as np

from graph.node import PARAM, Node
from graph.sequential import Sequential
from layers.batchnorm import bn_settings
from layers.contract import Args, describe
from layers.optional import import_torch
from layers.registry import REGISTRY

__all__ = ["to_torch"]


def to_torch(model):
    """A ``torch.nn.Module`` computing what `model` computes, with copies of its weights.

    Parameters
    ----------
    model : TwoLayerNet, FullyConnectedNet, ThreeLayerConvNet or graph.Sequential
        A model of `training.models` (its ``net``, ``reg`` and regularized ``weights``
        are read), or a Sequential of the layers in the module docstring's table,
        ending in a loss or not.

    Returns
    -------
    TorchNet
        ``net(x)``: the scores, (N, C) for a classifier, from x of the model's input shape
        (N, ...) in the model's dtype. ``net.loss(x, y)``: the loss, a 0-d tensor,
        ``net.data_loss(net(x), y) + net.regularization()``. ``net.layers``: an
        ``nn.Sequential`` with one child per gate of the graph, named after it.
        ``net.gatelab_params()``, ``net.gatelab_running_stats()``, ``net.gatelab_grads()``:
        dicts of NumPy arrays under gatelab's names and layouts; ``net.load_into(model)``
        writes the weights and running statistics back into a gatelab model.
        In train mode (torch's default) until ``net.eval()``.

    Raises
    ------
    ModuleNotFoundError
        Without torch; the message says how to install it.
    TypeError
        For something that is neither a model nor a Sequential.
    ValueError
        For a layer the export does not map (the message names the gate), or a graph
        that is not a chain.

    Examples
    --------
    >>> from training import TwoLayerNet
    >>> model = TwoLayerNet(input_dim=4, hidden_dim=5, num_classes=3, weight_seed=0)
    >>> net = to_torch(model)
    >>> net.layers.affine1.weight.shape, model.params["W1"].shape
    (torch.Size([5, 4]), (4, 5))
    """
    torch = import_torch("to_torch")
    graph, reg, weights = _graph_of("to_torch", model)
    classes = _classes(torch)
    children, mapping, running = [], [], []
    loss_gate = graph.loss.gate if graph.loss is not None else None
    for gate in graph.gates_in_order():
        if gate is loss_gate:
            continue
        module, params, states = _export_gate(torch, classes, graph, gate)
        children.append((gate.name, module))
        mapping += [(name, _child_path(gate, path), layout) for name, path, layout in params]
        running += [(gate.name, key, _child_path(gate, path)) for key, path in states]
    if graph is not model:
        loss = torch.nn.functional.cross_entropy  # the models' softmax_loss
    else:
        loss = None if loss_gate is None else _loss(torch, loss_gate)
    return classes.TorchNet(children, mapping, running, loss, reg, weights, graph.name)


def _graph_of(func, model):
    """(graph, reg, regularized weight names) of a model of `training.models` or a
    Sequential; TypeError naming `func` for anything else."""
    if isinstance(model, Sequential):
        return model, 0.0, ()
    if isinstance(getattr(model, "net", None), Sequential) and hasattr(model, "weights"):
        return model.net, float(model.reg), tuple(model.weights)
    raise TypeError(f"{func}: model must be a TwoLayerNet, FullyConnectedNet, "
                    f"ThreeLayerConvNet or graph.Sequential; got {describe(model)}")


def _child_path(gate, path):
    """The name under ``net.layers`` of the part `path` of the module exported for `gate`."""
    return f"{gate.name}.{path}" if path else gate.name


def _arguments(gate):
    """The gate's forward arguments by name (nodes as given, constants and options)."""
    return inspect.signature(gate.forward).bind(*gate.args, **gate.options).arguments


def _load_into(net, model):
    """`TorchNet.load_into`: every check first, so that a refused model is left as it was."""
    func = "TorchNet.load_into"
    graph, _, _ = _graph_of(func, model)
    params = net.gatelab_params()
    if set(graph.params) != set(params):
        raise ValueError(f"{func}: model must be built as the exported "
                         f"{net.gatelab_name!r}, with the params {sorted(params)}; got "
                         f"{sorted(graph.params)}")
    for name, value in params.items():
        old = graph.params[name]
        if not isinstance(old, np.ndarray) or old.shape != value.shape \
                or old.dtype != value.dtype:
            raise ValueError(f"{func}: param {name!r} of the model must be a {value.dtype} "
                             f"array of shape {value.shape}, as exported; got {describe(old)}")
    gates = {gate.name: gate for gate in graph.gates_in_order()}
    updates = []
    for gate_name, stats in net.gatelab_running_stats().items():
        key = net.running[gate_name][1]
        gate = gates.get(gate_name)
        state = _arguments(gate).get(key) if gate is not None else None
        if not isinstance(state, dict):
            raise ValueError(f"{func}: model must have a gate {gate_name!r} with a dict "
                             f"{key}, as the exported {net.gatelab_name!r} has; got "
                             f"{'no such gate' if gate is None else describe(state)}")
        for name, value in stats.items():
            old = state.get(name)
            dtype = old.dtype if isinstance(old, np.ndarray) else value.dtype
            updates.append((state, name, value.astype(dtype, copy=False)))
    graph.params.update(params)
    for state, name, value in updates:
        state[name] = value
    return model



# -- the modules ----------------------------------------------------------------------------

@functools.cache
def _classes(torch):
    """The module classes, defined once torch is imported."""
    nn = torch.nn

    class Affine(nn.Linear):
        """gatelab's affine layer: ``nn.Linear`` on x flattened to (N, D).

        weight (M, D) is gatelab's w (D, M) transposed; bias (M,) is b.
        """

        def forward(self, x):
            return super().forward(x.flatten(1))

    class TorchNet(nn.Module):
        """A gatelab model exported to torch (see `training.torch_export`).

        Attributes
        ----------
        layers : nn.Sequential
            One child per gate of the gatelab graph, named after the gate.
        reg : float
            L2 strength of `loss`, on the parameters of gatelab's weights.
        weights : tuple of str
            gatelab's names of the regularized parameters.
        data_loss : callable or None
            ``data_loss(scores, y)``, the torch form of the graph's loss layer (the
            models': ``F.cross_entropy``); None for a graph without one.
        mapping : dict of str -> (str, layout)
            gatelab's parameter name -> (the torch parameter's name under `layers`,
            the gatelab layout: ``"transposed"`` or a shape to reshape to).
        running : dict of str -> (str, str)
            The name of each gatelab gate with running statistics -> (the name under
            `layers` of the torch module holding them, the gate's option holding them in
            gatelab: ``"bn_param"``).
        """

        def __init__(self, children, mapping, running, loss, reg, weights, name):
            super().__init__()
            self.layers = nn.Sequential()
            for child_name, module in children:
                self.layers.add_module(child_name, module)
            self.mapping = {name: (path, layout) for name, path, layout in mapping}
            self.running = {gate: (path, key) for gate, key, path in running}
            self.data_loss = loss
            self.reg = reg
            self.weights = weights
            self.gatelab_name = name
            self.torch = torch

        def forward(self, x):
            """The scores (the last layer's output) for x of shape (N, ...)."""
            return self.layers(x)

        def loss(self, x, y):
            """``data_loss(net(x), y) + regularization()``: the loss, a 0-d tensor."""
            if self.data_loss is None:
                raise ValueError(f"TorchNet.loss: the exported graph {self.gatelab_name!r} "
                                 "has no loss layer; apply one to net(x)")
            return self.data_loss(self(x), y) + self.regularization()

        def regularization(self):
            """0.5 * reg * sum(W ** 2) over gatelab's weights; a 0-d tensor (0 for none)."""
            total = 0.0
            for name in self.weights:
                total = total + 0.5 * self.reg * (self.parameter(name) ** 2).sum()
            return total if self.weights else self.torch.zeros(())

        def parameter(self, name):
            """The torch parameter holding gatelab's parameter `name`."""
            if name not in self.mapping:
                raise KeyError(f"TorchNet.parameter: no gatelab parameter {name!r}; the "
                               f"names are {sorted(self.mapping)}")
            return self.layers.get_parameter(self.mapping[name][0])

        def gatelab_params(self):
            """dict of gatelab's name -> NumPy array in gatelab's layout (copies)."""
            return {name: self._to_gatelab(name, self.parameter(name).detach())
                    for name in self.mapping}

        def gatelab_running_stats(self):
            """dict of gatelab's gate name -> ``{"running_mean": (D,), "running_var": (D,)}``,
            copies of the batch norm module's buffers in the module's dtype."""
            stats = {}
            for gate, (path, _) in self.running.items():
                module = self.layers.get_submodule(path)
                stats[gate] = {name: np.array(getattr(module, name).detach().cpu().numpy(),
                                              copy=True)
                               for name in ("running_mean", "running_var")}
            return stats

        def load_into(self, model):
            """Write the weights and running statistics into `model`; return `model`.

            Parameters
            ----------
            model : TwoLayerNet, FullyConnectedNet, ThreeLayerConvNet or Sequential
                Built as the exported model (the same params, names, shapes and
                dtypes, the same gates with running statistics); the exported model
                itself, or a fresh one.

            Returns
            -------
            model
                Its params now hold the module's weights in gatelab's layouts, and the
                ``bn_param`` dict of each batch norm gate the module's running mean and
                variance (rebound, as ``batchnorm_forward`` rebinds them; in the dtype
                they had there, the model's when absent), so that the model's test-mode
                scores equal the module's eval-mode scores.

            Raises
            ------
            TypeError
                For something that is neither a model nor a Sequential.
            ValueError
                When `model` is not built as the exported one; nothing is written then.
            """
            return _load_into(self, model)

        def gatelab_grads(self):
            """dict of gatelab's name -> the parameter's ``.grad`` in gatelab's layout
            (None where torch holds no gradient)."""
            grads = {}
            for name in self.mapping:
                grad = self.parameter(name).grad
                grads[name] = None if grad is None else self._to_gatelab(name, grad)
            return grads

        def _to_gatelab(self, name, tensor):
            layout = self.mapping[name][1]
            array = tensor.cpu().numpy()
            array = array.T if layout == "transposed" else array.reshape(layout)
            return np.array(array, copy=True)

    return type("Classes", (), {"Affine": Affine, "TorchNet": TorchNet})


def _export_gate(torch, classes, graph, gate):
    """(module, [(gatelab param name, path under the module, layout)],
    [(option holding running statistics, path under the module)]) for one gate."""
    spec = REGISTRY.get(gate.layer)
    build = _BUILDERS.get(gate.layer)
    if build is None or spec is None or spec.forward is not gate.forward:
        supported = ", ".join(sorted(_BUILDERS))
        raise ValueError(f"to_torch: gate {gate.name!r} ({gate.layer}) has no torch "
                         f"counterpart in the export; the layers it maps are {supported}")
    values, names = {}, {}
    for position, (key, value) in enumerate(_arguments(gate).items()):
        if position == 0:
            continue  # the running value, the output of the previous gate
        if isinstance(value, Node):
            if value.kind != PARAM:
                raise ValueError(f"to_torch: gate {gate.name!r} ({gate.layer}) takes node "
                                 f"{value.name!r} as {key}; the export maps chains whose "
                                 "layers take params only")
            names[key], value = value.name, graph.params[value.name]
        values[key] = value
    layer = _Layer(torch, classes, values, names)
    module = build(layer)
    return module, layer.params, layer.running


class _Layer:
    """What a builder reads of one gate: its arguments, and the params and running
    statistics it maps."""

    def __init__(self, torch, classes, values, names):
        self.torch = torch
        self.nn = torch.nn
        self.classes = classes
        self.values = values
        self.names = names
        self.params = []
        self.running = []

    def option(self, key, entry, default=None):
        return self.values.get(key, {}).get(entry, default)

    def tensor(self, array):
        return self.torch.from_numpy(np.array(array, copy=True))

    def set(self, module, attribute, key, transposed=False, path=None):
        """Copy gatelab's argument `key` into ``module.<attribute>`` and map it."""
        array = np.asarray(self.values[key])
        target = getattr(module, attribute)
        value = array.T if transposed else array.reshape(target.shape)
        with self.torch.no_grad():
            setattr(module, attribute, self.nn.Parameter(self.tensor(value)))
        where = ".".join(part for part in (path, attribute) if part)
        self.params.append((self.names[key], where, "transposed" if transposed
                            else array.shape))

    def dtype(self, key):
        return getattr(self.torch, np.asarray(self.values[key]).dtype.name)


def _affine(layer, path=None):
    w = np.asarray(layer.values["w"])
    module = layer.classes.Affine(w.shape[0], w.shape[1], dtype=layer.dtype("w"))
    layer.set(module, "weight", "w", transposed=True, path=path)
    layer.set(module, "bias", "b", path=path)
    return module


def _conv(layer, path=None):
    w = np.asarray(layer.values["w"])
    conv_param = layer.values["conv_param"]
    module = layer.nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]),
                             stride=conv_param["stride"], padding=conv_param["pad"],
                             dilation=conv_param.get("dilation", 1), dtype=layer.dtype("w"))
    layer.set(module, "weight", "w", path=path)
    layer.set(module, "bias", "b", path=path)
    return module


def _batchnorm(layer, spatial=False, path=None):
    gamma = np.asarray(layer.values["gamma"])
    # gatelab's own reading of bn_param: its defaults (eps, momentum, running statistics
    # at zeros when absent, where torch would start running_var at ones) and its checks.
    check = Args("to_torch")
    check.floats("gamma", gamma, "D")
    _, eps, momentum, running_mean, running_var = bn_settings(
        check, layer.values["bn_param"], "D", gamma.dtype)
    kind = layer.nn.BatchNorm2d if spatial else layer.nn.BatchNorm1d
    module = kind(gamma.size, eps=eps, momentum=_complement(momentum),
                  dtype=layer.dtype("gamma"))
    layer.set(module, "weight", "gamma", path=path)
    layer.set(module, "bias", "beta", path=path)
    with layer.torch.no_grad():
        module.running_mean.copy_(layer.tensor(running_mean.astype(gamma.dtype)))
        module.running_var.copy_(layer.tensor(running_var.astype(gamma.dtype)))
    layer.running.append(("bn_param", path))
    return module


def _layernorm(layer):
    gamma = np.asarray(layer.values["gamma"])
    module = layer.nn.LayerNorm(gamma.size, eps=layer.option("ln_param", "eps", 1e-5),
                                dtype=layer.dtype("gamma"))
    layer.set(module, "weight", "gamma")
    layer.set(module, "bias", "beta")
    return module


def _groupnorm(layer):
    gamma = np.asarray(layer.values["gamma"])
    module = layer.nn.GroupNorm(layer.values["G"], gamma.size,
                                eps=layer.option("gn_param", "eps", 1e-5),
                                dtype=layer.dtype("gamma"))
    layer.set(module, "weight", "gamma")
    layer.set(module, "bias", "beta")
    return module


def _pool(kind):
    def build(layer):
        pool_param = layer.values["pool_param"]
        return kind(layer.nn)((pool_param["pool_height"], pool_param["pool_width"]),
                              stride=pool_param["stride"])
    return build


def _dropout(layer):
    param = layer.values["dropout_param"]
    return layer.nn.Dropout(_complement(param.get("p", param.get("keep_prob", 1.0))))


def _complement(probability):
    """1 - probability to 15 significant digits: torch's 0.1 where 1 - 0.9 is 0.09999...98
    (a difference of 2e-17, far below what the float64 comparison resolves)."""
    return float(f"{1 - probability:.15g}")


def _elementwise(make):
    return lambda layer: make(layer.nn, layer.values)


def _composite(*parts):
    """An nn.Sequential of parts, each ``part(layer, path)`` with path its index."""
    def build(layer):
        return layer.nn.Sequential(*[part(layer, path=str(k))
                                     for k, part in enumerate(parts)])
    return build


def _relu(layer, path=None):
    return layer.nn.ReLU()


def _max_pool(layer, path=None):
    return _pool(lambda nn: nn.MaxPool2d)(layer)


_BUILDERS = {
    "affine": _affine,
    "relu": _relu,
    "sigmoid": _elementwise(lambda nn, v: nn.Sigmoid()),
    "tanh": _elementwise(lambda nn, v: nn.Tanh()),
    "silu": _elementwise(lambda nn, v: nn.SiLU()),
    "gelu": _elementwise(lambda nn, v: nn.GELU()),
    "gelu_tanh": _elementwise(lambda nn, v: nn.GELU(approximate="tanh")),
    "leaky_relu": _elementwise(lambda nn, v: nn.LeakyReLU(v.get("alpha", 0.01))),
    "elu": _elementwise(lambda nn, v: nn.ELU(v.get("alpha", 1.0))),
    "dropout": _dropout,
    "batchnorm": _batchnorm,
    "spatial_batchnorm": functools.partial(_batchnorm, spatial=True),
    "layernorm": _layernorm,
    "spatial_groupnorm": _groupnorm,
    "conv": _conv,
    "conv_naive": _conv,
    "max_pool": _max_pool,
    "max_pool_naive": _max_pool,
    "avg_pool": _pool(lambda nn: nn.AvgPool2d),
    "global_avg_pool": lambda layer: layer.nn.Sequential(layer.nn.AdaptiveAvgPool2d(1),
                                                         layer.nn.Flatten()),
    "affine_relu": _composite(_affine, _relu),
    "conv_relu": _composite(_conv, _relu),
    "conv_relu_pool": _composite(_conv, _relu, _max_pool),
    "conv_bn_relu": _composite(_conv, functools.partial(_batchnorm, spatial=True), _relu),
}


def _loss(torch, gate):
    """The torch loss of `gate`, the graph's loss layer: ``loss(scores, y)``."""
    F = torch.nn.functional
    losses = {
        "softmax_loss": F.cross_entropy,
        "svm_loss": lambda scores, y: scores.shape[1] * F.multi_margin_loss(scores, y),
        "sigmoid_cross_entropy_loss": lambda scores, y: F.binary_cross_entropy_with_logits(
            scores, y.to(scores.dtype)),
        "mse_loss": F.mse_loss,
    }
    spec = REGISTRY.get(gate.layer)
    if gate.layer not in losses or spec is None or spec.forward is not gate.forward:
        raise ValueError(f"to_torch: the loss gate {gate.name!r} ({gate.layer}) has no "
                         f"torch counterpart in the export; the losses it maps are "
                         f"{', '.join(sorted(losses))}")
    return losses[gate.layer]
