"""Hand-written ``torch.autograd.Function``s, correct and with planted backward bugs.

The torch counterpart of `mutations` (which plants bugs in gatelab's NumPy pairs): a
`Layer` is the forward and the hand-written backward of one Function, and a planted bug
wraps that backward, corrupting its gradients the way a known mistake would; the layer
itself is never edited. Used by ``tests/checks/test_torch_check.py`` (every bug caught, no false
alarm) and ``benchmarks/bench_torch_check.py`` (gatelab's `check_torch` next to
``torch.autograd.gradcheck``).

    >>> from checks import check_torch
    >>> bug = next(planted("float64", seed=0))
    >>> check_torch(bug.fn, *bug.inputs).ok, bug.effective
    (False, True)

The layers (`LAYERS`): affine, relu, sigmoid, tanh, exp, softmax cross-entropy (mean
over the batch, integer labels), layer norm, batch norm (train mode, batch statistics),
conv1d (stride 1, no padding), max pool 1d and average pool 1d (window 2, stride 2).

The kinds of bug (`KINDS`), the names of `mutations.CATALOGUE` where the mistake is the
same:

- ``wrong sign``, ``factor 2``: -grad, 2 grad; every checked input.
- ``0.1% scale``: grad * 1.001; every checked input.
- ``1e-4 in largest element``: the element of largest |grad| times 1 + 1e-4; every
  checked input.
- ``element zeroed``: one element set to 0, chosen at random among the elements of at
  least a tenth of the largest |grad| at the first call, the same at every later call;
  every checked input.
- ``transposed weight grad``: the last two axes swapped (read back in the gradient's own
  shape); affine's w, conv1d's w.
- ``wrong argument``: gamma's gradient returned for beta and the other way round (the
  norm layers).
- ``missing 1/N``: the gradient N times too large where the layer averages: the loss
  over its batch, average pooling over its window.
- ``mask not applied``: dx = dout where a mask routes it (relu), or dout sent to every
  element of a window instead of its maximum (max pool).
- ``norm term dropped``: the norm layers' dx without its mean term or its variance term.
- ``broadcast not summed``: the gradient of a bias or scale broadcast over the batch
  taken from the first example (and position) only, instead of summed over all of them.
- ``upstream ignored``: the backward run with an all-ones dout.
- ``off-by-one index``: dx shifted by one position along the length axis (zero-filled),
  as a wrong offset in a loop: conv1d and the poolings.

``bug.effective`` says whether the corruption changed a float64 gradient by more than
`RESOLUTION` of the largest one in the calls made so far; by construction every bug of
this catalogue does at its example inputs, and the test asserts it.
"""

import inspect
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

# A change below this fraction of the largest gradient is rounding noise (the float64
# resolution of gatelab's checker, its error floor).
RESOLUTION = 1e-8
EPS = 1e-5


# --- the layers ----------------------------------------------------------------------------

class Layer:
    """One hand-written Function: its maths and where each kind of bug can be made.

    Subclasses define ``forward(ctx, *inputs)`` (torch ops; whatever backward needs is
    kept on ctx), ``backward(ctx, dout)`` (one gradient per input, None for labels) and
    ``example(rng, dtype)`` (the inputs, checked ones with requires_grad). The class
    attributes say where bugs apply: ``names`` (of the inputs, for labels),
    ``weights`` (positions of weight matrices),
    ``broadcast`` (position -> the axes of the output it is broadcast along),
    ``pairs`` (positions of inputs of one shape whose gradients can be swapped),
    ``shift_axis`` (axis of dx for an off-by-one), and the optional methods
    ``averaged(ctx)``, ``unmasked(ctx, dout)`` and ``without(ctx, dout, term)``.
    """

    name = ""
    names = ("x",)
    weights = ()
    broadcast = {}
    pairs = ()
    shift_axis = None
    averaged = None
    unmasked = None
    without = None


class Affine(Layer):
    """out = x @ w + b; x (N, D), w (D, M), b (M,)."""

    name = "affine"
    names = ("x", "w", "b")
    weights = (1,)
    broadcast = {2: (0,)}

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.x, ctx.w = x, w
        return x @ w + b

    @staticmethod
    def backward(ctx, dout):
        return dout @ ctx.w.T, ctx.x.T @ dout, dout.sum(0)

    @staticmethod
    def example(rng, dtype):
        return checked(rng.standard_normal((3, 4)), rng.standard_normal((4, 3)),
                       rng.standard_normal(3), dtype=dtype)


class Relu(Layer):
    """out = max(0, x); x of any shape, drawn away from the kink at 0."""

    name = "relu"

    @staticmethod
    def forward(ctx, x):
        ctx.mask = x > 0
        return x * ctx.mask

    @staticmethod
    def backward(ctx, dout):
        return (dout * ctx.mask,)

    @staticmethod
    def unmasked(ctx, dout):
        return dout.clone()

    @staticmethod
    def example(rng, dtype):
        x = rng.choice([-1.0, 1.0], (3, 4)) * rng.uniform(0.2, 2.0, (3, 4))
        return checked(x, dtype=dtype)


class _FromOutput(Layer):
    """out = f(x) elementwise, whose derivative is written in terms of out:
    dx = dout * slope(out). x (3, 4), normal with standard deviation `scale`."""

    scale = 1.0

    @classmethod
    def forward(cls, ctx, x):
        ctx.out = cls.function(x)
        return ctx.out.clone()

    @classmethod
    def backward(cls, ctx, dout):
        return (dout * cls.slope(ctx.out),)

    @classmethod
    def example(cls, rng, dtype):
        return checked(cls.scale * rng.standard_normal((3, 4)), dtype=dtype)


class Sigmoid(_FromOutput):
    """out = 1 / (1 + exp(-x)); dx = dout * out * (1 - out)."""

    name = "sigmoid"
    scale = 2.0
    function = staticmethod(torch.sigmoid)
    slope = staticmethod(lambda out: out * (1 - out))


class Tanh(_FromOutput):
    """out = tanh(x); dx = dout * (1 - out^2)."""

    name = "tanh"
    function = staticmethod(torch.tanh)
    slope = staticmethod(lambda out: 1 - out * out)


class Exp(_FromOutput):
    """out = exp(x); dx = dout * out."""

    name = "exp"
    function = staticmethod(torch.exp)
    slope = staticmethod(lambda out: out)


class SoftmaxCrossEntropy(Layer):
    """L = -(1/N) sum_n log softmax(x_n)[y_n]; dx = (softmax(x) - onehot(y)) / N."""

    name = "softmax_cross_entropy"
    names = ("x", "y")

    @staticmethod
    def forward(ctx, x, y):
        shifted = x - x.max(dim=1, keepdim=True).values
        log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
        ctx.probs, ctx.y = torch.exp(log_probs), y
        return -log_probs[torch.arange(x.shape[0]), y].mean()

    @staticmethod
    def backward(ctx, dout):
        dx = ctx.probs.clone()
        dx[torch.arange(dx.shape[0]), ctx.y] -= 1
        return dx * (dout / dx.shape[0]), None

    @staticmethod
    def averaged(ctx):
        return ctx.probs.shape[0]

    @staticmethod
    def example(rng, dtype):
        x, = checked(rng.standard_normal((4, 3)), dtype=dtype)
        return x, torch.from_numpy(rng.integers(0, 3, 4))


class _Normalization(Layer):
    """xhat = (x - mean) / sqrt(var + eps) along `axis`, out = gamma * xhat + beta.

    dx = (inv_std / M) (M dxhat - sum(dxhat) - xhat sum(dxhat xhat)) with dxhat = dout *
    gamma and the sums along `axis`; its "mean" and "variance" terms are the second and
    third.
    """

    names = ("x", "gamma", "beta")
    pairs = ((1, 2),)
    axis = None

    @classmethod
    def forward(cls, ctx, x, gamma, beta):
        mean = x.mean(dim=cls.axis, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=cls.axis, keepdim=True)
        ctx.inv_std = 1 / torch.sqrt(var + EPS)
        ctx.xhat = (x - mean) * ctx.inv_std
        ctx.gamma = gamma
        return gamma * ctx.xhat + beta

    @classmethod
    def backward(cls, ctx, dout):
        return cls.without(ctx, dout, None), (dout * ctx.xhat).sum(0), dout.sum(0)

    @classmethod
    def without(cls, ctx, dout, term):
        dxhat = dout * ctx.gamma
        count = ctx.xhat.shape[cls.axis]
        dx = count * dxhat
        if term != "mean":
            dx = dx - dxhat.sum(cls.axis, keepdim=True)
        if term != "variance":
            dx = dx - ctx.xhat * (dxhat * ctx.xhat).sum(cls.axis, keepdim=True)
        return ctx.inv_std / count * dx

    @staticmethod
    def example(rng, dtype):
        return checked(0.5 + 2 * rng.standard_normal((4, 3)), rng.uniform(0.5, 1.5, 3),
                       rng.standard_normal(3), dtype=dtype)


class LayerNorm(_Normalization):
    """Layer norm of x (N, D) over D; gamma, beta (D,)."""

    name = "layernorm"
    axis = 1
    broadcast = {1: (0,), 2: (0,)}


class BatchNorm(_Normalization):
    """Batch norm of x (N, D) over the batch, with the batch statistics (train mode)."""

    name = "batchnorm"
    axis = 0
    broadcast = {1: (0,), 2: (0,)}


class Conv1d(Layer):
    """out[n, f, l] = b[f] + sum_{c, k} w[f, c, k] x[n, c, l + k]; stride 1, no padding.

    x (N, C, L), w (F, C, K), b (F,), out (N, F, L - K + 1).
    """

    name = "conv1d"
    names = ("x", "w", "b")
    weights = (1,)
    broadcast = {2: (0, 2)}
    shift_axis = 2

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.cols, ctx.w, ctx.length = x.unfold(2, w.shape[2], 1), w, x.shape[2]
        return torch.einsum("nclk,fck->nfl", ctx.cols, w) + b[:, None]

    @staticmethod
    def backward(ctx, dout):
        dcols = torch.einsum("nfl,fck->nclk", dout, ctx.w)
        dx = dout.new_zeros((dout.shape[0], ctx.w.shape[1], ctx.length))
        out_length = dout.shape[2]
        for k in range(ctx.w.shape[2]):
            dx[:, :, k:k + out_length] += dcols[..., k]
        return dx, torch.einsum("nfl,nclk->fck", dout, ctx.cols), dout.sum((0, 2))

    @staticmethod
    def example(rng, dtype):
        return checked(rng.standard_normal((2, 2, 6)), 0.5 * rng.standard_normal((3, 2, 3)),
                       rng.standard_normal(3), dtype=dtype)


def _pool_input(rng, dtype):
    """x (2, 2, 6) whose two elements of each window differ by 0.1 or more (no ties)."""
    shape = (2, 2, 3, 1)
    first = rng.standard_normal(shape)
    second = first + rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 1.0, shape)
    return checked(np.concatenate([first, second], axis=3).reshape(2, 2, 6), dtype=dtype)


class MaxPool1d(Layer):
    """out[n, c, i] = max(x[n, c, 2i], x[n, c, 2i + 1]); backward routes dout to the max."""

    name = "max_pool1d"
    shift_axis = 2

    @staticmethod
    def forward(ctx, x):
        windows = x.reshape(*x.shape[:2], -1, 2)
        out, ctx.winner = windows.max(dim=3)
        ctx.shape = x.shape
        return out

    @staticmethod
    def backward(ctx, dout):
        dx = dout.new_zeros((*dout.shape, 2))
        dx.scatter_(3, ctx.winner[..., None], dout[..., None])
        return (dx.reshape(ctx.shape),)

    @staticmethod
    def unmasked(ctx, dout):
        return dout.repeat_interleave(2, dim=2)

    example = staticmethod(_pool_input)


class AvgPool1d(Layer):
    """out[n, c, i] = (x[n, c, 2i] + x[n, c, 2i + 1]) / 2; dx = dout / 2 on each."""

    name = "avg_pool1d"
    shift_axis = 2

    @staticmethod
    def forward(ctx, x):
        return x.reshape(*x.shape[:2], -1, 2).mean(dim=3)

    @staticmethod
    def backward(ctx, dout):
        return (dout.repeat_interleave(2, dim=2) / 2,)

    @staticmethod
    def averaged(ctx):
        return 2

    example = staticmethod(_pool_input)


LAYERS = (Affine, Relu, Sigmoid, Tanh, Exp, SoftmaxCrossEntropy, LayerNorm, BatchNorm,
          Conv1d, MaxPool1d, AvgPool1d)


def checked(*arrays, dtype):
    """Tensors of `dtype` from `arrays`, each with requires_grad=True."""
    return tuple(torch.tensor(np.asarray(a), dtype=getattr(torch, str(dtype)),
                              requires_grad=True) for a in arrays)


# --- Functions from layers -----------------------------------------------------------------

@dataclass
class Calls:
    """Forward and backward calls of one Function (the cost of a check)."""

    forward: int = 0
    backward: int = 0


def function(layer, corrupt=None, calls=None, record=None):
    """A ``torch.autograd.Function`` subclass for `layer`, its backward corrupted or not.

    Parameters
    ----------
    layer : a `Layer` subclass
    corrupt : callable, optional
        ``corrupt(grads, call) -> grads``, given the correct gradients (a list) and the
        `Call`; None for the correct Function.
    calls : Calls, optional
        Counts the Function's forward and backward calls.
    record : callable, optional
        ``record(correct, wrong)`` after every corrupted backward.
    """
    calls = calls if calls is not None else Calls()

    def forward(ctx, *inputs):
        calls.forward += 1
        return layer.forward(ctx, *inputs)

    def backward(ctx, dout):
        calls.backward += 1
        grads = list(layer.backward(ctx, dout))
        if corrupt is None:
            return tuple(grads)
        wrong = corrupt([None if g is None else g.clone() for g in grads],
                        Call(layer, ctx, dout))
        if record is not None:
            record(grads, wrong)
        return tuple(wrong)

    # Reports name the inputs after the layer's forward(ctx, x, w, b).
    forward.__signature__ = inspect.signature(layer.forward)
    name = "".join(part.capitalize() for part in layer.name.split("_"))
    return type(name, (torch.autograd.Function,),
                {"forward": staticmethod(forward), "backward": staticmethod(backward)})


@dataclass
class Call:
    """One backward call as a planted bug sees it."""

    layer: type
    ctx: object
    dout: torch.Tensor

    def rerun(self, dout):
        """The correct gradients for another upstream gradient."""
        return list(self.layer.backward(self.ctx, dout))


@dataclass(eq=False)
class Bug:
    """One planted bug: a layer at its example inputs, and how its gradients go wrong.

    ``fn`` is the corrupted Function's ``apply`` and ``inputs`` its inputs: check them
    with ``check_torch(bug.fn, *bug.inputs)`` or ``gradcheck(bug.fn, bug.inputs)``.
    ``change`` is the largest |wrong - correct| of a float64 backward so far, over the
    largest |correct|; ``effective`` is True when it exceeds `RESOLUTION`.
    """

    kind: str
    layer: type
    variant: str
    corrupt: Callable
    inputs: tuple
    calls: Calls = field(default_factory=Calls)
    change: float = 0.0

    def __post_init__(self):
        self.fn = function(self.layer, self.corrupt, self.calls, self._record).apply

    @property
    def label(self):
        return f"{self.layer.name} [{self.variant}]"

    @property
    def effective(self):
        return self.change > RESOLUTION

    def _record(self, correct, wrong):
        pairs = [(c, w) for c, w in zip(correct, wrong) if c is not None]
        if not pairs or pairs[0][0].dtype != torch.float64:
            return
        scale = max(float(c.abs().max()) for c, _ in pairs)
        change = max(float((w - c).abs().max()) if w.shape == c.shape else np.inf
                     for c, w in pairs)
        self.change = max(self.change, change / scale if scale > 0 else np.inf)


def example(layer, dtype="float64", seed=0):
    """The example inputs of `layer` for `seed`, in `dtype`."""
    rng = np.random.default_rng([zlib.crc32(layer.name.encode()), seed])
    return layer.example(rng, dtype)


def planted(dtype="float64", seed=0, layers=LAYERS):
    """Yield a `Bug` for every kind of bug at every place in `layers` where it applies."""
    for layer in layers:
        inputs = example(layer, dtype, seed)
        for kind, plant in KINDS.items():
            for variant, corrupt in plant(layer, inputs):
                yield Bug(kind, layer, variant, corrupt, inputs)


# --- the kinds of bug ----------------------------------------------------------------------

def _differentiable(inputs):
    return [k for k, t in enumerate(inputs) if t.requires_grad]


def per_input(wrong):
    """A plant corrupting one gradient: ``wrong(grad, call, state) -> grad`` for each
    checked input (`state` is a dict the bug keeps across calls)."""
    def plant(layer, inputs):
        return [(f"d{layer.names[k]}", partial(_replace_one, k, wrong, {}))
                for k in _differentiable(inputs)]
    return plant


def _replace_one(k, wrong, state, grads, call):
    grads[k] = wrong(grads[k], call, state)
    return grads


def _scaled(factor):
    return lambda grad, call, state: grad * factor


def _largest_times(grad, call, state):
    index = np.unravel_index(int(grad.abs().argmax()), tuple(grad.shape))
    grad[index] = grad[index] * (1 + 1e-4)
    return grad


def _element_zeroed(grad, call, state):
    """Zero one element of at least a tenth of the largest |grad|, fixed at the first call."""
    if "index" not in state:
        magnitude = grad.detach().abs().cpu().numpy()
        candidates = np.flatnonzero(magnitude >= 0.1 * magnitude.max())
        seed = zlib.crc32(f"{call.layer.name}/{tuple(grad.shape)}".encode())
        pick = int(np.random.default_rng(seed).choice(candidates))
        state["index"] = np.unravel_index(pick, magnitude.shape)
    grad[state["index"]] = 0
    return grad


def _transposed(layer, inputs):
    planted = []
    for k in layer.weights:
        shape = tuple(inputs[k].shape)
        if len(shape) >= 2 and min(shape[-2:]) >= 2:
            planted.append((f"d{layer.names[k]} transposed",
                            partial(_replace_one, k, _swap_last, {})))
    return planted


def _swap_last(grad, call, state):
    return grad.transpose(-1, -2).contiguous().reshape(grad.shape)


def _wrong_argument(layer, inputs):
    return [(f"d{layer.names[b]} = d{layer.names[a]}", partial(_copy_gradient, a, b))
            for first, second in layer.pairs for a, b in ((first, second), (second, first))]


def _copy_gradient(source, target, grads, call):
    grads[target] = grads[source].clone()
    return grads


def _missing_mean(layer, inputs):
    if layer.averaged is None:
        return []
    return [("dx * N", partial(_replace_one, 0, _times_count, {}))]


def _times_count(grad, call, state):
    return grad * call.layer.averaged(call.ctx)


def _mask_not_applied(layer, inputs):
    if layer.unmasked is None:
        return []
    return [("dx unmasked", _unmasked)]


def _unmasked(grads, call):
    grads[0] = call.layer.unmasked(call.ctx, call.dout)
    return grads


def _norm_term_dropped(layer, inputs):
    if layer.without is None:
        return []
    return [(f"dx without the {term} term", partial(_without, term))
            for term in ("mean", "variance")]


def _without(term, grads, call):
    grads[0] = call.layer.without(call.ctx, call.dout, term)
    return grads


def _broadcast_not_summed(layer, inputs):
    return [(f"d{layer.names[k]} from the first example", partial(_first_only, k, axes))
            for k, axes in layer.broadcast.items()]


def _first_only(k, axes, grads, call):
    """Gradient k from the first position along the axes it is broadcast along."""
    dout = torch.zeros_like(call.dout)
    first = tuple(slice(0, 1) if axis in axes else slice(None)
                  for axis in range(dout.dim()))
    dout[first] = call.dout[first]
    grads[k] = call.rerun(dout)[k]
    return grads


def _upstream_ignored(layer, inputs):
    return [("dout = ones", _with_ones)]


def _with_ones(grads, call):
    return call.rerun(torch.ones_like(call.dout))


def _off_by_one(layer, inputs):
    if layer.shift_axis is None:
        return []
    return [("dx shifted by one", partial(_replace_one, 0, partial(_shifted, layer.shift_axis),
                                          {}))]


def _shifted(axis, grad, call, state):
    moved = torch.zeros_like(grad)
    target = [slice(None)] * grad.dim()
    source = [slice(None)] * grad.dim()
    target[axis], source[axis] = slice(1, None), slice(None, -1)
    moved[tuple(target)] = grad[tuple(source)]
    return moved


KINDS = {
    "wrong sign": per_input(_scaled(-1)),
    "factor 2": per_input(_scaled(2)),
    "0.1% scale": per_input(_scaled(1.001)),
    "1e-4 in largest element": per_input(_largest_times),
    "element zeroed": per_input(_element_zeroed),
    "transposed weight grad": _transposed,
    "wrong argument": _wrong_argument,
    "missing 1/N": _missing_mean,
    "mask not applied": _mask_not_applied,
    "norm term dropped": _norm_term_dropped,
    "broadcast not summed": _broadcast_not_summed,
    "upstream ignored": _upstream_ignored,
    "off-by-one index": _off_by_one,
}
