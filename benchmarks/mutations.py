"""A catalogue of planted backward bugs, for measuring what a gradient checker catches.

The planted-bug benchmark (``benchmarks/bench_checker.py``) and the test suite measure
gatelab's checker with it; any checker that takes a layer pair can be measured the same
way. It lives beside its torch twin (``torch_mutations.py``, bugs planted in torch
Functions) in benchmarks/, outside the installed package, and uses only public names of
the library.

A planted bug wraps a layer's backward and never edits the layer: the wrapper calls the
correct backward, then corrupts its gradients the way a known mistake would (a dropped
minus sign, a forgotten 1/N, a gradient routed one pixel too far). Each `Mutation` says
where it makes sense: ``mutation.bugs(site)`` plants one bug per applicable argument or
variant of a site, and none where the mistake could not happen. A site is a registered
layer at one of its example inputs (`Site.of`); the fan-out mutation builds its own
small composites from a site (x used twice, a residual connection), because that bug
lives in the wiring between layers rather than in one backward.

    >>> mutation, bug = next(planted(np.float64, seed=0))
    >>> report = check_layer(bug.forward, bug.backward, *bug.site.args, name=bug.label,
    ...                      **bug.site.kwargs)
    >>> bug.effective, report.ok
    (True, False)

After the check, ``bug.effective`` says whether the corruption changed any float64
gradient in the calls the checker made by more than rounding noise: zeroing an element
that is 0 anyway plants nothing, and such a bug must be left out of a detection rate
rather than counted as missed.

The catalogue (``kind``: the mistake; where it is planted):

- ``wrong sign``: -grad; every differentiable argument.
- ``factor 2``: 2 * grad; every differentiable argument.
- ``missing 1/N``: grad * N for a layer that averages: a loss over a batch (N = the first
  axis of its first argument, of 2 or more dimensions) or a mean / average pooling
  (N = elements averaged into one output).
- ``transposed weight grad``: the gradient's last two axes swapped (read back in its own
  shape when they differ); every parameter (a differentiable argument after the first)
  with at least 2 x 2 trailing axes.
- ``wrong argument``: the gradient of argument A returned for argument B; every ordered
  pair of differentiable arguments of one shape.
- ``element zeroed``: one element set to 0, chosen at random (fixed per bug); every
  differentiable argument.
- ``norm term dropped``: a normalization's dx without its mean term (- sum dxhat) or its
  variance term (- xhat sum(dxhat xhat)); batch norm and spatial batch norm in train
  mode, layer norm, group norm.
- ``off-by-one index``: the gradient shifted by one position along an indexed axis
  (zero-filled), as a wrong offset in a loop or a crop does: a spatial axis (the last of
  length 2 or more) of 4-D arguments of conv and pool layers, the time axis of
  (N, T, ...) inputs of sequence layers (rnn, lstm, gru, temporal), the vocabulary axis
  of an embedding's weights.
- ``dropout mask not applied``: dx = dout; dropout layers.
- ``broadcast not summed``: the gradient of an argument broadcast into the output
  (a bias, gamma, either side of a broadcasting gate) computed from the first position
  along the broadcast axes only, instead of summed over them; every such argument.
- ``fan-out overwritten``: where one value feeds two consumers, the second gradient
  overwrites the first instead of adding to it (either one kept); composites
  ``layer(..., x, ..., x, ...)`` wherever a layer accepts one array for two of its
  arguments, and ``x + layer(x)`` (a residual connection) wherever the output has x's
  shape.
- ``1e-4 in largest element``: the element of largest ``|grad|`` times 1 + 1e-4; every
  differentiable argument.
- ``upstream ignored``: backward run with an all-ones dout instead of the given one (the
  bug an all-ones test upstream cannot see); every site.
- ``cache modified`` (expected: a warning, not a failure): backward writes into a float
  array of its cache after computing the right gradients (``+= 1``), so that a second
  call with the same cache would return others; every site whose cache holds an array of
  its own (one that is not an argument of the forward). The checker must judge the
  gradients returned, pass, and warn that backward modified its cache.
- ``not linear in dout``: backward run with ``|dout|`` instead of dout (the sign of the
  upstream gradient dropped); every site. The checker must report that backward is not
  linear in dout.
- ``dout written in place`` (expected: a warning, not a failure): backward returns the
  right gradients and then doubles its upstream gradient in place, as ``dout *= 2;
  return dout`` does; every site. The checker must pass it and warn.
- ``1e-4 in random element`` (reported, not a target): as above on a random element,
  which may hold a gradient too small for a relative error of 1e-4 to be measurable.

``mutation.expect`` says what a checker must do with a kind: ``"fail"`` (the check
fails; ``mutation.reported`` names the problem it must report, for the kinds whose
gradients may still be right at the call that is compared) or ``"warn"`` (the check
passes with a warning; ``mutation.reported`` names what it must say).
"""

import copy
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from math import prod

import numpy as np

from layers.contract import Cache, argument_names, gradient_list, gradient_positions
from layers.registry import REGISTRY
from checks import check_layer
from checks.checker import FLOOR_FRACTION

SEQUENCE_LAYERS = ("rnn", "lstm", "gru", "temporal")
SPATIAL_LAYERS = ("conv", "pool")
# A change smaller than this fraction of a layer's largest gradient is rounding noise: the
# resolution the checker claims in float64 (its error floor).
RESOLUTION = FLOOR_FRACTION[np.dtype(np.float64)]


@dataclass
class Site:
    """A layer pair at one input, where bugs are planted.

    Attributes
    ----------
    name : str
        Shown in reports: ``"affine"``, ``"multiply(x, x)"``, ``"x + relu(x)"``.
    layer : str
        The registered layer it is built from.
    forward, backward : callable
        The correct pair.
    args : tuple
    kwargs : dict
    names : list of str
        The differentiable arguments, in gradient order.
    positions : list of int
        Their positions in `args`.
    outputs : list of ndarray
        The forward's outputs at `args`.
    """

    name: str
    layer: str
    forward: Callable
    backward: Callable
    args: tuple
    kwargs: dict
    names: list
    positions: list
    outputs: list

    @classmethod
    def of(cls, spec, seed=0, dtype=np.float64):
        """The registered layer `spec` at its example inputs for `seed`, in `dtype`."""
        example = spec.example(np.random.default_rng(seed), dtype)
        return cls.build(spec.name, spec.name, spec.forward, spec.backward, example.args,
                         example.kwargs)

    @classmethod
    def build(cls, name, layer, forward, backward, args, kwargs, names=None):
        positions = gradient_positions(forward, args)
        if names is None:
            names = argument_names(forward, len(args))
        outputs = [np.asarray(out) for out in forward(*args, **kwargs)[:-1]]
        return cls(name, layer, forward, backward, tuple(args), dict(kwargs),
                   [names[i] for i in positions], positions, outputs)

    def gradients(self, douts, cache):
        """The correct backward's gradients as a list."""
        return gradient_list(self.backward(*douts, cache), len(self.positions))

    def grad_shape(self, k):
        return np.shape(self.args[self.positions[k]])

    def in_family(self, family):
        return any(word in self.layer for word in family)


@dataclass
class Call:
    """One backward call as a planted bug sees it: the upstream gradients and the cache.

    ``wrote`` records whether the corruption wrote into ``douts`` or the cache.
    """

    site: Site
    douts: tuple
    cache: object
    wrote: bool = False

    def rerun(self, douts):
        """The correct gradients for other upstream gradients, same cache."""
        return self.site.gradients(douts, self.cache)


@dataclass(eq=False)
class Bug:
    """One planted bug: a site, and how its gradients are corrupted.

    ``backward`` is the corrupted backward (pass it to the checker with ``forward``). It
    records how much it changed the float64 gradients, the ones a checker compares with
    central differences: ``change`` is the largest ``|wrong - correct|`` over its
    calls, relative to the largest ``|correct gradient|`` of the call. For a bug that
    writes into its cache, "correct" is the backward on a copy of the cache as the
    forward made it, so a call counts as changed only when the writes of earlier calls
    changed its result.

    ``effective`` is True when that change exceeds `RESOLUTION`: a gradient that is 0 in
    exact arithmetic comes out of backward as rounding noise (1e-17 where the layer's
    other gradients are 1), and doubling such noise plants nothing a numeric derivative
    could see. ``identical`` is True when no gradient changed at all. For a kind expected
    to warn, ``effective`` says whether it wrote into an upstream gradient or its cache.
    """

    kind: str
    site: Site
    variant: str
    corrupt: Callable  # corrupt(list of correct gradients, Call) -> list of gradients
    writes_cache: bool = False
    change: float = 0.0
    calls: int = 0
    wrote: bool = False
    pristine: dict = field(default_factory=dict)  # id(cache) -> (cache, its first copy)

    @property
    def forward(self):
        return self.site.forward

    @property
    def label(self):
        return f"{self.site.name} [{self.variant}]"

    @property
    def effective(self):
        return self.wrote or self.change > RESOLUTION

    @property
    def identical(self):
        return self.change == 0

    def backward(self, *douts_and_cache):
        *douts, cache = douts_and_cache
        pristine = None
        if self.writes_cache:
            # The cache object is kept with its copy, so that its id is not reused.
            pristine = self.pristine.setdefault(id(cache), (cache, copy.deepcopy(cache)))[1]
        returned = self.site.backward(*douts, cache)
        # Copies: a gradient may be dout itself (add's), which a corruption may write into.
        given = [np.array(g, copy=True) for g in gradient_list(returned, len(self.site.names))]
        correct = [g.copy() for g in given] if pristine is None else self.site.gradients(
            [np.array(d, copy=True) for d in douts], pristine)
        call = Call(self.site, tuple(douts), cache)
        wrong = self.corrupt(given, call)
        self.calls += 1
        self.wrote = self.wrote or call.wrote
        if all(np.asarray(g).dtype == np.float64 for g in correct):
            self.change = max(self.change, _relative_change(correct, wrong))
        return tuple(wrong) if isinstance(returned, (tuple, list)) else wrong[0]


def _relative_change(correct, wrong):
    """max |wrong - correct| over every gradient, over the largest |correct| (inf if 0)."""
    if any(np.shape(a) != np.shape(b) for a, b in zip(correct, wrong)):
        return np.inf
    change = max(float(np.max(np.abs(np.subtract(b, a)), initial=0.0))
                 for a, b in zip(correct, wrong))
    scale = max(float(np.max(np.abs(a), initial=0.0)) for a in correct)
    if change == 0:
        return 0.0
    return change / scale if scale > 0 else np.inf


@dataclass(frozen=True)
class Mutation:
    """A kind of backward bug, and where it makes sense.

    ``plant(site)`` returns (site, variant, corrupt) for every place in `site` (usually
    one per argument) where the mistake could be made, [] where it could not.
    """

    kind: str
    plant: Callable
    target: bool = True  # counted in the 100%-detection target
    expect: str = "fail"  # or "warn": the check must pass, with a warning
    reported: str = ""  # a problem the check must report, when not just a failing row
    writes_cache: bool = False  # corrupts the cache, not the gradients of the call

    def bugs(self, site):
        return [Bug(self.kind, where, variant, corrupt, self.writes_cache)
                for where, variant, corrupt in self.plant(site)]

    def judged_right(self, report):
        """Whether a `checks.GradReport` on a bug of this kind says what it must.

        "fail": the check fails, through the problem `reported` names when there is one,
        else through a gradient that disagrees with the numeric one (a failing row).
        "warn": the check passes with the warning `reported` names.
        """
        if self.expect == "warn":
            return report.ok and any(self.reported in w for w in report.warnings)
        if self.reported:
            return any(self.reported in p for p in report.problems)
        return any(a.status == "FAIL" for a in report.arguments)


def planted(dtype=np.float64, seed=0, names=None, left_out=None):
    """Yield (mutation, bug) for every bug of the catalogue in the sites of `seed`.

    A site whose correct version fails the check, or has an element at a kink (where a
    bug could hide), hosts no bug: it is skipped and recorded in `left_out` (a dict,
    name -> reason) when one is given.
    """
    for site in sites(dtype, seed, names):
        verdicts = {}  # id(site) -> (site, why it is unusable); the site keeps its id alive
        for mutation in CATALOGUE:
            for bug in mutation.bugs(site):
                key = id(bug.site)
                if key not in verdicts:
                    verdicts[key] = bug.site, unusable(bug.site)
                    if verdicts[key][1] and left_out is not None:
                        where = f"{bug.site.name} ({np.dtype(dtype).name}, seed {seed})"
                        left_out[where] = verdicts[key][1]
                if not verdicts[key][1]:
                    yield mutation, bug


def unusable(site):
    """Why the correct `site` cannot host a bug ("" when it can): it fails, or has kinks."""
    report = check_layer(site.forward, site.backward, *site.args, name=site.name,
                         **site.kwargs)
    if not report.ok:
        return "the correct version fails: " + "; ".join(
            report.problems + [f"{a.name} {a.status} {a.hint}".strip()
                               for a in report.arguments if a.status == "FAIL"])
    kinks = sum(a.kinks for a in report.arguments)
    return f"the correct version has {kinks} element(s) at kinks" if kinks else ""


def sites(dtype=np.float64, seed=0, names=None):
    """A `Site` per registered layer (those in `names` only, if given), sorted by name."""
    import layers  # noqa: F401 - importing registers every layer of the library

    specs = sorted((s for s in REGISTRY.values() if s.module.startswith("layers.")),
                   key=lambda s: s.name)
    return [Site.of(s, seed, dtype) for s in specs if names is None or s.name in names]


# --- per-argument mutations -------------------------------------------------------------

def per_argument(make):
    """A `Mutation.plant` corrupting one gradient at a time: ``make(site, k)`` returns
    ``wrong(grad, call) -> grad`` for argument k, or None where it does not apply."""
    def plant(site):
        planted = []
        for k, name in enumerate(site.names):
            wrong = make(site, k)
            if wrong is not None:
                planted.append((site, f"d{name}", partial(_replace_one, k, wrong)))
        return planted
    return plant


def _replace_one(k, wrong, grads, call):
    grads[k] = wrong(grads[k], call)
    return grads


def _negated(site, k):
    return lambda grad, call: -grad


def _doubled(site, k):
    return lambda grad, call: 2 * grad


def _times_averaged_count(site, k):
    """grad * N where the layer divides by N: a loss's batch, a mean's count, a window's."""
    first = np.asarray(site.args[0])
    if site.layer.endswith("loss") and site.outputs[0].ndim == 0 and first.ndim >= 2:
        count = first.shape[0]
    elif "mean" in site.layer or "avg" in site.layer:
        window = next((a for a in site.args if isinstance(a, dict)), {})
        count = window.get("pool_height", 0) * window.get("pool_width", 0) or (
            first.size // max(site.outputs[0].size, 1))
    else:
        return None
    return None if count < 2 else (lambda grad, call: grad * count)


def _transposed(site, k):
    shape = site.grad_shape(k)
    if k == 0 or len(shape) < 2 or min(shape[-2:]) < 2:
        return None

    def transposed(grad, call):
        swapped = np.swapaxes(grad, -1, -2)
        return np.ascontiguousarray(swapped if swapped.shape == grad.shape
                                    else swapped.reshape(grad.shape))
    return transposed


def _one_element(change, largest=False):
    """A ``make`` for `per_argument` applying ``change(value)`` to one element: the one of
    largest ``|grad|`` (found at every call), or a random one (the same at every call)."""
    def make(site, k):
        fixed = _fixed_index(site, k)

        def wrong(grad, call):
            index = fixed
            if largest:
                index = np.unravel_index(int(np.argmax(np.abs(grad))), grad.shape)
            grad[index] = change(grad[index])
            return grad
        return wrong
    return make


def _zero(value):
    return 0


def _off_by_1e_4(value):
    return value * (1 + 1e-4)


def _shifted_one(site, k):
    """An off-by-one index: the gradient moved one position along an indexed axis."""
    shape = site.grad_shape(k)
    if site.in_family(SPATIAL_LAYERS) and len(shape) == 4:
        axis = 3 if shape[3] > 1 else 2
    elif site.in_family(SEQUENCE_LAYERS) and len(shape) == 3 and k == 0:
        axis = 1
    elif "embedding" in site.layer and len(shape) == 2:
        axis = 0
    else:
        return None
    if shape[axis] < 2:
        return None

    def shifted(grad, call):
        moved = np.zeros_like(grad)
        target = [slice(None)] * grad.ndim
        source = [slice(None)] * grad.ndim
        target[axis], source[axis] = slice(1, None), slice(None, -1)
        moved[tuple(target)] = grad[tuple(source)]
        return moved
    return shifted


def _summed_over_first_only(site, k):
    """A broadcast argument's gradient from the first position along its broadcast axes."""
    if len(site.outputs) != 1:
        return None
    out = site.outputs[0]
    axes = _broadcast_axes(site.grad_shape(k), out.shape)
    if not axes:
        return None
    first = tuple(slice(0, 1) if axis in axes else slice(None) for axis in range(out.ndim))

    def first_only(grad, call):
        dout = np.zeros_like(call.douts[0])
        dout[first] = call.douts[0][first]
        return call.rerun([dout])[k]
    return first_only


def _broadcast_axes(shape, out_shape):
    """Axes of the output along which an argument of `shape` is repeated; () if none.

    NumPy's rule (trailing axes aligned), except for a 1-D argument of a 4-D (N, C, H, W)
    output, which is per channel as in conv's bias and spatial batch norm's gamma.
    """
    if len(out_shape) == 4 and len(shape) == 1:
        return (0, 2, 3) if shape[0] == out_shape[1] else ()
    if len(shape) > len(out_shape):
        return ()
    padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    if any(s not in (1, o) for s, o in zip(padded, out_shape)):
        return ()
    return tuple(axis for axis, (s, o) in enumerate(zip(padded, out_shape)) if s < o)


def _fixed_index(site, k):
    """A random element of argument k, the same on every call and every run."""
    shape = site.grad_shape(k)
    seed = zlib.crc32(f"{site.name}/{k}".encode())
    flat = int(np.random.default_rng(seed).integers(max(prod(shape), 1)))
    return np.unravel_index(flat, shape) if shape else ()


# --- whole-site mutations ---------------------------------------------------------------

def _wrong_argument(site):
    planted = []
    for a, name_a in enumerate(site.names):
        for b, name_b in enumerate(site.names):
            if a != b and site.grad_shape(a) == site.grad_shape(b):
                planted.append((site, f"d{name_b} = d{name_a}",
                                partial(_copy_gradient, a, b)))
    return planted


def _copy_gradient(source, target, grads, call):
    grads[target] = grads[source].copy()
    return grads


def _sign_of_dout_dropped(site):
    return [(site, "|dout|", _with_absolute_upstream)]


def _with_absolute_upstream(grads, call):
    return call.rerun([np.abs(d) for d in call.douts])


def _dout_doubled_in_place(site):
    return [(site, "dout *= 2 after backward", _double_douts)]


def _double_douts(grads, call):
    for dout in call.douts:
        if isinstance(dout, np.ndarray) and dout.flags.writeable and dout.any():
            dout *= 2
            call.wrote = True
    return grads


def _cache_written(site):
    outputs = site.forward(*site.args, **site.kwargs)
    if not _own_arrays(outputs[-1], site):
        return []
    return [(site, "cache += 1 after backward", _add_one_to_cache)]


def _add_one_to_cache(grads, call):
    """Write into the cache's own arrays, after the right gradients were computed (a
    read-only one raises, as it would in a student's backward)."""
    for array in _own_arrays(call.cache, call.site, writable=False):
        array += 1
        call.wrote = True
    return grads


def _own_arrays(cache, site, writable=True):
    """The float arrays in `cache` (through tuples, lists, dicts and objects' attributes
    or slots), writable ones only if `writable`, that share no memory with an argument of
    the site: writing into them changes the cache and nothing else."""
    inputs = list(_arrays_in((site.args, site.kwargs)))
    return [a for a in _arrays_in(cache)
            if np.issubdtype(a.dtype, np.floating) and (a.flags.writeable or not writable)
            and a.size
            and not any(np.shares_memory(a, b) for b in inputs)]


def _arrays_in(value, depth=0):
    if isinstance(value, np.ndarray):
        yield value
    elif depth < 4 and isinstance(value, (tuple, list)):
        for item in value:
            yield from _arrays_in(item, depth + 1)
    elif depth < 4 and isinstance(value, dict):
        for item in value.values():
            yield from _arrays_in(item, depth + 1)
    elif depth < 4 and not callable(value):
        # A plain object's attributes, or its slots (the contract's tagged cache).
        slots = getattr(type(value), "__slots__", ())
        items = vars(value).values() if hasattr(value, "__dict__") else [
            getattr(value, name, None) for name in slots]
        for item in items:
            yield from _arrays_in(item, depth + 1)


def _upstream_ignored(site):
    return [(site, "dout = ones", _with_ones_upstream)]


def _with_ones_upstream(grads, call):
    return call.rerun([np.ones_like(d) for d in call.douts])


def _dropout_unmasked(site):
    if "dropout" not in site.layer or site.grad_shape(0) != site.outputs[0].shape:
        return []
    return [(site, "dx = dout", _dx_is_dout)]


def _dx_is_dout(grads, call):
    grads[0] = np.array(call.douts[0], dtype=grads[0].dtype)
    return grads


def _normalization_term_dropped(site):
    """Batch norm (train mode), layer norm and their spatial forms: dx without one term."""
    read = _NORMALIZATION_READERS.get(site.layer)
    if read is None or (site.layer.endswith("batchnorm")
                        and site.args[3].get("mode") != "train"):
        return []
    return [(site, f"dx without the {term} term",
             partial(_standardized_without, term, read)) for term in ("mean", "variance")]


def _standardized_without(term, read, grads, call):
    """dx = (inv_std / M) (M dxhat - sum(dxhat) - xhat sum(dxhat xhat)), a term dropped."""
    dxhat, xhat, inv_std, axis, finish = read(call.douts[0], _inner(call.cache))
    count = xhat.size // inv_std.size
    dx = count * dxhat
    if term != "mean":
        dx = dx - dxhat.sum(axis=axis, keepdims=True)
    if term != "variance":
        dx = dx - xhat * (dxhat * xhat).sum(axis=axis, keepdims=True)
    grads[0] = finish(inv_std / count * dx).astype(grads[0].dtype)
    return grads


def _inner(cache):
    """The layer's own cache inside the contract's tagged one (`layers.contract.Cache`)."""
    return cache.inner if isinstance(cache, Cache) else cache


def _same(dx):
    return dx


def _batchnorm_parts(dout, cache):
    """(dxhat, xhat, inv_std, axis of the statistics, dx back to x's layout)."""
    return dout * cache.gamma, cache.xhat, cache.inv_std, 0, _same


def _layernorm_parts(dout, cache):
    xhat, inv_std, gamma = cache
    return dout * gamma, xhat, inv_std, -1, _same


def _spatial_batchnorm_parts(dout, cache):
    return dout * cache.gamma, cache.xhat, cache.inv_std, cache.axes, _same


def _spatial_groupnorm_parts(dout, cache):
    xhat, inv_std, gamma4 = cache[:3]
    n, groups = inv_std.shape[:2]
    return ((dout * gamma4).reshape(n, groups, -1), xhat.reshape(n, groups, -1), inv_std,
            -1, lambda dx: dx.reshape(xhat.shape))


_NORMALIZATION_READERS = {
    "batchnorm": _batchnorm_parts,
    "layernorm": _layernorm_parts,
    "spatial_batchnorm": _spatial_batchnorm_parts,
    "spatial_groupnorm": _spatial_groupnorm_parts,
}


# --- fan-out: composites in which one value feeds two consumers --------------------------

def _fan_out_overwritten(site):
    planted = []
    for composite, uses in _tied(site) + _residual(site):
        for kept, label in enumerate(uses):
            planted.append((composite, f"{label} only", partial(_one_use_only, kept)))
    return planted


def _one_use_only(kept, grads, call):
    """The fanned-out value's gradient from use `kept` only: the other was overwritten."""
    composite = call.site
    uses = composite.backward.uses(call.douts, call.cache)
    grads[composite.backward.fanned] = uses[kept]
    return grads


class _TiedBackward:
    """Backward of layer(..., x, ..., x, ...): the two gradients of x add up."""

    def __init__(self, backward, first, second, single):
        self.inner, self.first, self.second, self.single = backward, first, second, single
        self.fanned = first

    def uses(self, douts, cache):
        grads = list(self.inner(*douts, cache))  # two or more gradients: a sequence
        return grads[self.first], grads[self.second]

    def __call__(self, *douts_and_cache):
        *douts, cache = douts_and_cache
        grads = list(self.inner(*douts, cache))
        grads[self.first] = grads[self.first] + grads[self.second]
        del grads[self.second]
        return grads[0] if self.single else tuple(grads)


class _TiedForward:
    """layer(*args) with args[second] taken to be args[first] (and left out of the call)."""

    def __init__(self, forward, first, second):
        self.inner, self.first, self.second = forward, first, second

    def __call__(self, *args, **kwargs):
        full = list(args)
        full.insert(self.second, args[self.first])
        return self.inner(*full, **kwargs)


def _tied(site):
    """layer(..., x, ..., x, ...) for each pair of arguments that accepts one array.

    Pairs whose tie makes the layer non-differentiable everywhere (maximum(x, x)) are
    left out.
    """
    composites = []
    for a in range(len(site.positions)):
        for b in range(a + 1, len(site.positions)):
            first, second = site.positions[a], site.positions[b]
            forward = _TiedForward(site.forward, first, second)
            args = site.args[:second] + site.args[second + 1:]
            if site.layer == "maximum" or not _accepts(forward, args, site.kwargs):
                continue
            backward = _TiedBackward(site.backward, a, b, single=len(site.positions) == 2)
            names = argument_names(site.forward, len(site.args))
            del names[second]
            label = _call_label(site.layer, site.args, site.names, a, b, site.positions)
            composite = Site.build(label, site.layer, forward, backward, args, site.kwargs,
                                   names)
            composites.append((composite, (f"use as {site.names[a]}",
                                           f"use as {site.names[b]}")))
    return composites


class _ResidualForward:
    """x + layer(x, ...): x feeds the layer and the skip connection."""

    def __init__(self, forward):
        self.inner = forward

    def __call__(self, *args, **kwargs):
        out, cache = self.inner(*args, **kwargs)
        return out + args[0], cache


class _ResidualBackward:
    """Backward of x + layer(x, ...): dx = the layer's dx + dout."""

    fanned = 0

    def __init__(self, backward, count):
        self.inner, self.count = backward, count

    def uses(self, douts, cache):
        grads = gradient_list(self.inner(*douts, cache), self.count)
        return grads[0], np.array(douts[0], dtype=grads[0].dtype)

    def __call__(self, dout, cache):
        grads = gradient_list(self.inner(dout, cache), self.count)
        grads[0] = grads[0] + dout
        return grads[0] if self.count == 1 else tuple(grads)


def _residual(site):
    if (len(site.outputs) != 1 or not site.positions or site.positions[0] != 0
            or site.outputs[0].shape != site.grad_shape(0)):
        return []
    forward = _ResidualForward(site.forward)
    backward = _ResidualBackward(site.backward, len(site.positions))
    composite = Site.build(f"x + {site.layer}(x)", site.layer, forward, backward, site.args,
                           site.kwargs, argument_names(site.forward, len(site.args)))
    return [(composite, ("through the layer", "through the skip"))]


def _accepts(forward, args, kwargs):
    try:
        forward(*args, **kwargs)
    except (ValueError, TypeError):
        return False
    return True


def _call_label(layer, args, names, a, b, positions):
    shown = []
    for i in range(len(args)):
        if i in positions:
            k = positions.index(i)
            shown.append(names[a] if k == b else names[k])
        else:
            shown.append("...")
    return f"{layer}({', '.join(shown)})"


# --- helpers -----------------------------------------------------------------------------

CATALOGUE = [
    Mutation("wrong sign", per_argument(_negated)),
    Mutation("factor 2", per_argument(_doubled)),
    Mutation("missing 1/N", per_argument(_times_averaged_count)),
    Mutation("transposed weight grad", per_argument(_transposed)),
    Mutation("wrong argument", _wrong_argument),
    Mutation("element zeroed", per_argument(_one_element(_zero))),
    Mutation("norm term dropped", _normalization_term_dropped),
    Mutation("off-by-one index", per_argument(_shifted_one)),
    Mutation("dropout mask not applied", _dropout_unmasked),
    Mutation("broadcast not summed", per_argument(_summed_over_first_only)),
    Mutation("fan-out overwritten", _fan_out_overwritten),
    Mutation("1e-4 in largest element",
             per_argument(_one_element(_off_by_1e_4, largest=True))),
    Mutation("upstream ignored", _upstream_ignored),
    Mutation("cache modified", _cache_written, expect="warn",
             reported="backward modified its cache", writes_cache=True),
    Mutation("not linear in dout", _sign_of_dout_dropped, reported="not linear in dout"),
    Mutation("dout written in place", _dout_doubled_in_place, expect="warn",
             reported="backward wrote into its upstream gradient"),
    Mutation("1e-4 in random element", per_argument(_one_element(_off_by_1e_4)),
             target=False),
]
