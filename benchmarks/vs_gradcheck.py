"""PyTorch's ``torch.autograd.gradcheck`` on gatelab's layers: its cost, what it catches.

A layer reaches gradcheck in one of two forms:

- `torch_layer`: written with torch ops, as gradcheck is normally used; for its cost;
- `as_function`: gatelab's numpy pair inside a ``torch.autograd.Function`` whose backward
  is the numpy backward, corrupted or not; gradcheck then judges exactly the backward
  that gatelab's checker judges, so the two can be compared bug by bug.

Used by ``benchmarks/bench_checker.py`` (section ``torch``); gradcheck runs with its
default tolerances (eps 1e-6, atol 1e-5, rtol 1e-3), torch on one thread (the calls are
tiny, and a second thread only adds contention on a shared 2-core machine). Calls are
counted exactly; times depend on the machine's load.
"""

import time
import warnings
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F

from checks import check_layer
from checks.report import format_table
from layers.contract import gradient_positions, is_float_array
from layers.registry import REGISTRY
from mutations import CATALOGUE, planted

GRADCHECKS = {"gradcheck full": {}, "gradcheck fast": {"fast_mode": True}}


class Calls:
    """Forward and backward calls made by one check."""

    def __init__(self):
        self.forward = 0
        self.backward = 0


class _CountBackward(torch.autograd.Function):
    """Identity whose backward counts the vector-Jacobian products asked of it."""

    @staticmethod
    def forward(ctx, out, calls):
        ctx.calls = calls
        return out.clone()

    @staticmethod
    def backward(ctx, grad):
        ctx.calls.backward += 1
        return grad, None


def counted(fn, calls):
    def run(*inputs):
        calls.forward += 1
        return _CountBackward.apply(fn(*inputs), calls)
    return run


def torch_layer(name, args):
    """(fn, tensors): layer `name` written with torch ops, at numpy arguments `args`."""
    tensors = [torch.tensor(np.asarray(a), requires_grad=True) for a in args
               if is_float_array(a)]
    eps = args[-1].get("eps", 1e-5) if isinstance(args[-1], dict) else None
    if name == "affine":
        def fn(x, w, b):
            return x.reshape(x.shape[0], -1) @ w + b
    elif name == "sigmoid":
        fn = torch.sigmoid
    elif name == "tanh":
        fn = torch.tanh
    elif name == "softmax_loss":
        labels = torch.from_numpy(np.asarray(args[1]))

        def fn(x):
            return F.cross_entropy(x, labels)
    elif name == "layernorm":
        def fn(x, gamma, beta):
            return F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)
    elif name == "batchnorm":
        def fn(x, gamma, beta):
            return F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)
    else:
        raise ValueError(f"torch_layer: no torch version of {name!r}")
    return fn, tensors


def as_function(forward, backward, args, kwargs):
    """(fn, tensors): the numpy pair as a torch function whose backward is `backward`."""
    positions = gradient_positions(forward, args)   # as the checker decides

    class Pair(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *tensors):
            call = [dict(a) if isinstance(a, dict) else a for a in args]
            for position, tensor in zip(positions, tensors):
                call[position] = tensor.detach().numpy().copy()
            *outs, ctx.cache = forward(*call, **kwargs)
            outs = tuple(torch.from_numpy(np.array(out)) for out in outs)
            return outs[0] if len(outs) == 1 else outs

        @staticmethod
        def backward(ctx, *douts):
            grads = backward(*[d.detach().numpy() for d in douts], ctx.cache)
            grads = grads if isinstance(grads, (tuple, list)) else (grads,)
            return tuple(torch.from_numpy(np.array(g)) for g in grads)

    tensors = [torch.tensor(np.asarray(args[p]), requires_grad=True) for p in positions]
    return Pair.apply, tensors


def gradcheck_passes(fn, tensors, **options):
    """gradcheck's verdict; an exception inside it (a failed internal check) is a fail."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "inputs are not double precision" in float32
        try:
            return torch.autograd.gradcheck(fn, tensors, raise_exception=False, **options)
        except RuntimeError:
            return False


def large_example(name, rng):
    """Inputs of about 4,000 elements for `name`, where gradcheck's cost shows."""
    normal = rng.standard_normal  # float64, as gradcheck wants
    if name == "affine":
        return normal((32, 64)), 0.125 * normal((64, 32)), normal(32)
    if name in ("sigmoid", "tanh"):
        return (normal((64, 64)),)
    if name == "softmax_loss":
        return normal((128, 32)), rng.integers(0, 32, 128)
    scale, shift = rng.uniform(0.5, 1.5, 64), normal(64)
    if name == "layernorm":
        return normal((32, 64)), scale, shift, {"eps": 1e-5}
    if name == "batchnorm":
        return normal((64, 64)), scale, shift, {"mode": "train"}
    raise ValueError(f"large_example: no inputs for {name!r}")


def cost(names):
    """Time and calls of gatelab's checker and gradcheck on `names`, small and large."""
    print("cost: gatelab's check_layer on the numpy pair; gradcheck on the layer written "
          "with torch ops (float64)")
    rows, lines, ratios = [], [], Counter()
    for name in names:
        spec = REGISTRY[name]
        for size, args in (("example", spec.example(np.random.default_rng(0)).args),
                           ("large", large_example(name, np.random.default_rng(0)))):
            elements = sum(np.size(a) for a in args if is_float_array(a))
            gap = _torch_agrees(name, args, spec)
            seconds = {}
            calls = Calls()
            start = time.perf_counter()
            report = check_layer(counted_numpy(spec.forward, calls, "forward"),
                                 counted_numpy(spec.backward, calls, "backward"), *args,
                                 name=name)
            seconds["gatelab"] = time.perf_counter() - start
            rows.append((name, f"{size} ({elements})", "gatelab check_layer",
                         f"{seconds['gatelab']:.3f}", calls.forward, calls.backward,
                         "pass" if report.ok else "FAIL"))
            for method, options in GRADCHECKS.items():
                fn, tensors = torch_layer(name, args)
                calls = Calls()
                start = time.perf_counter()
                passed = gradcheck_passes(counted(fn, calls), tensors, **options)
                seconds[method] = time.perf_counter() - start
                rows.append(("", "", method, f"{seconds[method]:.3f}", calls.forward,
                             calls.backward, "pass" if passed else "FAIL"))
            if size == "large":
                ratios[name] = seconds["gradcheck full"] / seconds["gatelab"]
            rows.append(("", "", f"(torch vs numpy forward: max rel diff {gap:.1e})", "",
                         "", "", ""))
    print("\n".join(format_table(("layer", "size (elements)", "method", "seconds",
                                  "forward calls", "backward calls", "result"), rows)))
    lines.append("time of gradcheck full / gatelab at ~4k elements: " + ", ".join(
        f"{n} {r:.0f}x" for n, r in ratios.items()))
    return lines


def counted_numpy(fn, calls, which):
    def run(*args, **kwargs):
        setattr(calls, which, getattr(calls, which) + 1)
        return fn(*args, **kwargs)
    run.__name__ = getattr(fn, "__name__", "layer")
    return run


def _torch_agrees(name, args, spec):
    """Max relative difference of the torch version's output from the numpy forward's."""
    fn, tensors = torch_layer(name, args)
    expected = np.asarray(spec.forward(*[dict(a) if isinstance(a, dict) else a
                                         for a in args])[0])
    got = fn(*tensors).detach().numpy()
    return float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-300))


def catches(names=None):
    """What gatelab and gradcheck detect of the catalogue (float64, seed 0 examples).

    `names`: the registered layers to plant bugs in (all of them when None).
    """
    scope = "every registered layer" if names is None else ", ".join(names)
    print(f"\ncatches: the catalogue in {scope} (float64, seed 0 examples), numpy backward "
          "plugged into torch.autograd.Function for gradcheck")
    found = {method: Counter() for method in ("gatelab", *GRADCHECKS)}
    total, missed = Counter(), []
    start = time.perf_counter()
    for mutation, bug in planted(np.float64, 0, names):
        if mutation.expect != "fail":
            continue  # a misbehaviour to warn about, not a bug to catch
        report = check_layer(bug.forward, bug.backward, *bug.site.args, name=bug.label,
                             **bug.site.kwargs)
        # Judged by what gatelab's calls planted: a bug that changed no gradient is left out.
        if not bug.effective:
            continue
        verdicts = {"gatelab": not report.ok}
        for method, options in GRADCHECKS.items():
            fn, tensors = as_function(bug.forward, bug.backward, bug.site.args,
                                      bug.site.kwargs)
            verdicts[method] = not gradcheck_passes(fn, tensors, **options)
        total[mutation.kind] += 1
        for method, caught in verdicts.items():
            found[method][mutation.kind] += caught
            if not caught and method == "gradcheck full":
                missed.append(f"{mutation.kind}: {bug.label}")
    seconds = time.perf_counter() - start
    rows = [(m.kind, total[m.kind], *(found[method][m.kind] for method in found))
            for m in CATALOGUE if total[m.kind]]
    rows.append(("all", sum(total.values()),
                 *(sum(found[method].values()) for method in found)))
    print("\n".join(format_table(("kind", "planted", *found), rows)))
    print(f"({seconds:.1f} s; gradcheck full missed {len(missed)}, e.g. "
          f"{'; '.join(missed[:4])})")
    planted_count = sum(total.values())
    return [f"catalogue in {scope}, float64, {planted_count} bugs: " + ", ".join(
        f"{method} caught {sum(found[method].values())}" for method in found)]


def float32_false_alarms(names, seeds=20):
    """Failures of correct layers in float32 (and float64) at `seeds` example seeds."""
    print(f"\nfalse alarms on correct layers ({', '.join(names)}), seeds 0..{seeds - 1}")
    fails = Counter()
    for name in names:
        spec = REGISTRY[name]
        for dtype in ("float64", "float32"):
            for seed in range(seeds):
                example = spec.example(np.random.default_rng(seed), dtype)
                report = check_layer(spec.forward, spec.backward, *example.args, seed=seed,
                                     **example.kwargs)
                fails["gatelab", dtype] += not report.ok
                for method, options in GRADCHECKS.items():
                    fn, tensors = as_function(spec.forward, spec.backward, example.args,
                                              example.kwargs)
                    fails[method, dtype] += not gradcheck_passes(fn, tensors, **options)
    runs = len(names) * seeds
    rows = [(method, *(f"{fails[method, d]}/{runs}" for d in ("float64", "float32")))
            for method in ("gatelab", *GRADCHECKS)]
    print("\n".join(format_table(("method", "float64 failures", "float32 failures"), rows)))
    return ["false alarms on correct representative layers, float32, "
            f"{runs} runs: " + ", ".join(f"{m} {fails[m, 'float32']}"
                                         for m in ("gatelab", *GRADCHECKS))]
