"""Check a layer pair's backward against central differences of its forward.

The pair is reduced to one scalar with a random upstream gradient u_k per output:
L(args) = sum_k <u_k, out_k(args)>, so that backward(u_1, ..., u_K, cache) must equal
dL/d(arg) for every floating-point argument. The upstream gradient is random and never
all ones: with all ones, training-mode batch norm's dx is exactly zero and hides its bugs.

The numeric side runs the forward on float64 copies of every floating-point argument
whatever the layer's dtype, and takes central differences with a step
h = eps^(1/3) * max(1, |x_i|), about 6e-6 for a unit input: the step that balances the
truncation error (h^2) against rounding (eps / h).

Errors are relative per element, |a - n| / max(|a| + |n|, floor). The floor is the larger
of the rounding noise of the difference quotient and a small fraction of the argument's
largest gradient (`TOLERANCES`), so that an element whose true gradient is zero is not
judged by dividing rounding noise by itself.
"""

import inspect
import math

import numpy as np

from layers._validate import describe, is_float_array
from .report import FAIL, NO_GRADIENT, PASS, ArgumentResult, GradReport

EPS64 = np.finfo(np.float64).eps
STEP = EPS64 ** (1 / 3)

# (pass threshold on the relative error, floor as a fraction of the largest gradient).
# float32: the analytic side rounds at eps32 ~ 1.2e-7 per operation and sums of a few
# hundred terms, so agreement to ~1e-5 relative is what a correct float32 layer reaches.
TOLERANCES = {
    np.dtype(np.float64): (1e-6, 1e-8),
    np.dtype(np.float32): (1e-3, 1e-4),
}

# A point is suspected to be a kink when its one-sided differences disagree by more than
# this fraction of their size; it is confirmed when they still do at a 10x smaller step.
KINK_RATIO = 0.1


def check_layer(forward, backward, *args, tol=None, seed=0, raise_on_fail=False,
                name=None, **kwargs):
    """Compare `backward` with central differences of `forward` at `args`.

    Parameters
    ----------
    forward : callable
        ``forward(*args, **kwargs) -> (out, cache)``, or ``(out_1, ..., out_K, cache)``.
    backward : callable
        ``backward(dout, cache)`` (``backward(dout_1, ..., dout_K, cache)``) returning one
        gradient per floating-point array in `args`, in order; a bare array when there is
        one. Keyword arguments and integer or boolean arrays get no gradient.
    *args, **kwargs
        The forward's arguments. They are never modified; parameter dicts are copied
        before every call, so the checker does not update running statistics.
    tol : float, optional
        Pass threshold on the relative error; by default 1e-6 for float64 and 1e-3 for
        float32 (the dtype of the floating-point arguments).
    seed : int
        Seed of the random upstream gradient.
    raise_on_fail : bool
        Raise `GradientCheckError` (an AssertionError whose message is the report table)
        when the check fails.
    name : str, optional
        Name shown in the report; by default the forward's name without ``_forward``.

    Returns
    -------
    GradReport
        ``report.ok`` and a table per argument (``print(report)``).
    """
    layer = name or _layer_name(forward)
    floats = [a for a in args if is_float_array(a)]
    dtype = np.asarray(floats[0]).dtype if floats else np.dtype(np.float64)
    default_tol, floor_fraction = TOLERANCES.get(dtype, TOLERANCES[np.dtype(np.float64)])
    report = GradReport(layer, dtype.name, default_tol if tol is None else tol)
    names = _argument_names(forward, len(args))
    originals = _snapshot(args, kwargs, names)
    try:
        _check(report, forward, backward, args, kwargs, names, seed, floor_fraction)
    finally:
        report.problems += _modified(originals)
    if raise_on_fail:
        report.raise_if_failed()
    return report


def assert_gradients(forward, backward, *args, **kwargs):
    """`check_layer` that raises `GradientCheckError` with the report table on failure.

    For pytest: ``assert_gradients(my_forward, my_backward, x, w)``.
    """
    return check_layer(forward, backward, *args, raise_on_fail=True, **kwargs)


def _check(report, forward, backward, args, kwargs, names, seed, floor_fraction):
    outputs, cache = _run_forward(report, forward, args, kwargs)
    if outputs is None:
        return
    repeat, _ = _run_forward(report, forward, args, kwargs)
    if repeat is None:
        return
    for first, second in zip(outputs, repeat):
        if not np.array_equal(first, second):
            gap = float(np.max(np.abs(first.astype(np.float64) - second)))
            report.problems.append(
                f"forward is not deterministic: two calls with the same inputs differ by up "
                f"to {gap:.3g} (a random layer needs a fixed seed, e.g. dropout_param['seed'])")
            return

    rng = np.random.default_rng(seed)
    upstream = [rng.standard_normal(out.shape).astype(out.dtype) for out in outputs]
    try:
        grads = backward(*upstream, cache)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's code is reported
        report.problems.append(f"backward raised {type(exc).__name__}: {exc}")
        return

    differentiable = [i for i, a in enumerate(args) if is_float_array(a)]
    for i, arg in enumerate(args):
        if i not in differentiable:
            kind = "integer/bool array" if isinstance(arg, np.ndarray) else "constant"
            report.arguments.append(
                ArgumentResult(names[i], NO_GRADIENT, detail=f"{kind}: {describe(arg)}"))
    if not differentiable:
        report.problems.append("no floating-point array argument: nothing to check")
        return
    grads = _match_gradients(report, grads, args, differentiable, names)
    if grads is None:
        return

    scalar = _scalar_objective(forward, args, kwargs, upstream)
    for position, grad in zip(differentiable, grads):
        result = _compare(scalar, args, position, names[position], grad, floor_fraction,
                          report.tolerance)
        report.arguments.append(result)
    report.arguments.sort(key=lambda a: names.index(a.name))


def _run_forward(report, forward, args, kwargs):
    """Call forward with fresh copies of parameter dicts; return (outputs, cache)."""
    try:
        result = forward(*_fresh_args(args), **_fresh(kwargs))
    except Exception as exc:  # noqa: BLE001 - any failure of the user's code is reported
        report.problems.append(f"forward raised {type(exc).__name__}: {exc}")
        return None, None
    if not isinstance(result, tuple) or len(result) < 2:
        report.problems.append(f"forward must return (out, cache) or (out_1, ..., out_K, "
                               f"cache); got {describe(result)}")
        return None, None
    outputs = [np.asarray(out) for out in result[:-1]]
    for k, out in enumerate(outputs):
        label = "output" if len(outputs) == 1 else f"output {k}"
        if not np.issubdtype(out.dtype, np.floating):
            report.problems.append(f"{label} is not floating-point: {describe(out)}")
            return None, None
        if not np.all(np.isfinite(out)):
            report.problems.append(f"{label} has {np.size(out) - np.isfinite(out).sum()} "
                                   "non-finite values (NaN or inf)")
            return None, None
    return outputs, result[-1]


def _match_gradients(report, grads, args, differentiable, names):
    """The gradients as a list in argument order, or None after reporting a mismatch."""
    wanted = [names[i] for i in differentiable]
    if len(differentiable) == 1:
        if isinstance(grads, (tuple, list)):
            report.problems.append(
                f"backward returned a {type(grads).__name__} of {len(grads)} for one "
                f"floating-point argument ({wanted[0]}); the contract returns a bare array")
            return None
        grads = [grads]
    elif not isinstance(grads, (tuple, list)) or len(grads) != len(differentiable):
        count = len(grads) if isinstance(grads, (tuple, list)) else 1
        report.problems.append(
            f"backward returned {count} gradient{'s' * (count != 1)} for "
            f"{len(differentiable)} floating-point arguments ({', '.join(wanted)})")
        return None
    matched = []
    for position, grad in zip(differentiable, grads):
        arg = np.asarray(args[position])
        grad_array = np.asarray(grad) if isinstance(grad, (np.ndarray, np.generic)) else None
        if grad_array is None:
            report.problems.append(f"gradient of {names[position]} is {describe(grad)}, "
                                   "not an array")
        elif grad_array.shape != arg.shape:
            report.problems.append(f"gradient of {names[position]} has shape "
                                   f"{grad_array.shape}; {names[position]} has {arg.shape}")
        elif grad_array.dtype != arg.dtype:
            report.problems.append(f"gradient of {names[position]} is {grad_array.dtype}; "
                                   f"{names[position]} is {arg.dtype}")
        matched.append(grad_array)
    return None if len(report.problems) else matched


def _scalar_objective(forward, args, kwargs, upstream):
    """L(position, values64) = sum_k <u_k, out_k> with args[position] replaced, in float64."""
    args64 = [np.asarray(a, dtype=np.float64) if is_float_array(a) else a for a in args]
    upstream64 = [u.astype(np.float64) for u in upstream]

    def objective(position, value):
        call = list(args64)
        call[position] = value
        outputs = forward(*_fresh_args(call), **_fresh(kwargs))[:-1]
        terms = [u * np.asarray(out, dtype=np.float64) for u, out in zip(upstream64, outputs)]
        return math.fsum(float(t.sum()) for t in terms), sum(float(np.abs(t).sum())
                                                              for t in terms)

    objective.args64 = args64
    return objective


def _compare(objective, args, position, name, grad, floor_fraction, tolerance):
    """Numeric gradient of one argument, elementwise, and its comparison with `grad`."""
    x = objective.args64[position].copy()
    base, magnitude = objective(position, x)
    numeric = np.zeros(x.shape)
    noise = np.zeros(x.shape)
    kink = np.zeros(x.shape, dtype=bool)
    flat = x.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        for step_scale in (1.0, 0.1):
            h = step_scale * STEP * max(1.0, abs(original))
            flat[i] = original + h
            plus, _ = objective(position, x)
            flat[i] = original - h
            minus, _ = objective(position, x)
            flat[i] = original
            forward_diff, backward_diff = (plus - base) / h, (base - minus) / h
            rounding = 4 * EPS64 * magnitude / h
            jump = abs(forward_diff - backward_diff)
            index = np.unravel_index(i, x.shape)
            numeric[index] = (plus - minus) / (2 * h)
            noise[index] = rounding
            if jump <= KINK_RATIO * (abs(forward_diff) + abs(backward_diff)) + rounding:
                kink[index] = False
                break
            kink[index] = True
    analytic = np.asarray(grad, dtype=np.float64)
    total = np.abs(analytic) + np.abs(numeric)
    scale = float(total[~kink].max()) if (~kink).any() else 0.0
    floor = np.maximum(np.maximum(noise, floor_fraction * scale), np.finfo(np.float64).tiny)
    error = np.abs(analytic - numeric) / np.maximum(total, floor)
    error[kink] = 0.0
    worst = np.unravel_index(int(np.argmax(error)), error.shape) if error.size else ()
    max_error = float(error[worst]) if error.size else 0.0
    status = PASS if max_error <= tolerance else FAIL
    detail = f"{np.asarray(args[position]).dtype} {np.shape(args[position])}"
    return ArgumentResult(name, status, max_error, tuple(int(i) for i in worst),
                          float(analytic[worst]) if error.size else 0.0,
                          float(numeric[worst]) if error.size else 0.0,
                          int(kink.sum()), detail)


def _layer_name(forward):
    name = getattr(forward, "__name__", "layer")
    return name[: -len("_forward")] if name.endswith("_forward") else name


def _argument_names(forward, count):
    try:
        params = [p for p in inspect.signature(forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:count]]
    return names + [f"args[{i}]" for i in range(len(names), count)]


def _fresh_args(args):
    return [_fresh(a) for a in args]


def _fresh(value):
    """A copy of `value` if it is a (parameter) dict; arrays inside are shared, not copied.

    A forward may rebind entries of a parameter dict (running statistics); the checker's
    repeated calls must not pile those updates into the caller's dict.
    """
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def _snapshot(args, kwargs, names):
    """(array, copy of its contents, label) for every array the caller passed, dicts included."""
    found = []

    def walk(value, label):
        if isinstance(value, np.ndarray):
            found.append((value, value.copy(), label))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{label}[{key!r}]")
        elif isinstance(value, (list, tuple)):
            for k, item in enumerate(value):
                walk(item, f"{label}[{k}]")

    for name, arg in zip(names, args):
        walk(arg, name)
    for key, arg in kwargs.items():
        walk(arg, key)
    return found


def _modified(originals):
    return [f"the layer modified its input {label} in place"
            for array, saved, label in originals
            if array.shape != saved.shape or not np.array_equal(array, saved, equal_nan=True)]
