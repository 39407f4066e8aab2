"""Check a layer pair's backward against central differences of its forward.

The pair is reduced to one scalar with a random upstream gradient u_k per output,
L(args) = sum_k <u_k, out_k(args)>, so that backward(u_1, ..., u_K, cache) must equal
dL/d(arg) for every floating-point argument. The upstream gradient is random and never
all ones: with all ones, training-mode batch norm's dx is exactly zero and hides its bugs.

Two strategies, chosen per argument by its size (`ELEMENTWISE_MAX`) unless `strategy=`
says otherwise:

- elementwise: every element by central differences, 2 to 4 forward calls each;
- directional: k random unit directions v, comparing <grad, v> with the numeric
  derivative along v, 2 to 4 forward calls each whatever the size. A gradient with a
  relative error rho (in norm) slips past one direction when |<e, v>| happens to fall
  below tol * |<g, v>|, which for a random v has probability about
  (2/pi) * 2 tol / rho: for rho = 1e-4 and tol = 1e-6, about 1.3e-2 per direction and
  3e-8 for k = 4 independent directions. When a direction fails, bisection over halves
  of the argument (a direction restricted to each half, following the worse one) finds
  a wrong element in about 2 log2(n) directional differences. What it resolves is an
  error whose norm is above about tol times the gradient's norm: one element of n off
  by a relative 1e-4 is ~1e-4 / sqrt(n) of the norm, below tol for n of a million. For
  element-level resolution on a large argument pass ``strategy="elementwise"``.

Everything numeric runs in float64 (`checks.numeric`). For float32 arguments the
backward is also run on float64 copies: the float64 gradient is checked against the
numeric one with the float64 tolerance, which finds every bug that is not about
precision; the float32 gradient is then compared with the float64 one under the float32
tolerance, which finds precision problems without failing spuriously on rounding.

Errors are relative per element, |a - n| / max(|a| + |n|, floor), the floor being the
larger of the numeric estimate's own error bound and `FLOOR_FRACTION` of the argument's
largest gradient, so that an element whose true gradient is 0 is not judged by dividing
rounding noise by itself.
"""

import inspect
import numbers

import numpy as np

from layers.contract import (describe, gradient_positions, is_float_array,
                             is_python_number, match_gradients, pair_name)
from .calling import FixedCalls
from .numeric import Objective
from .patterns import hint
from .report import FAIL, NO_GRADIENT, PASS, ArgumentResult, GradReport

ELEMENTWISE_MAX = 512
DIRECTIONS = 4
WORST_SHOWN = 5
SAMPLE = 16

TOLERANCES = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}
FLOOR_FRACTION = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-3}
FLOAT64 = np.dtype(np.float64)
UPSTREAM_SALT = 0x6A7E
PRECISION_ULPS = 8
SPREAD_FACTOR = 4


def check_layer(forward, backward, *args, tol=None, seed=0, strategy="auto",
                directions=DIRECTIONS, nudge_kinks=False, raise_on_fail=False, name=None,
                **kwargs):
    """Compare `backward` with central differences of `forward` at `args`.

    Parameters
    ----------
    forward : callable
        ``forward(*args, **kwargs) -> (out, cache)``, or ``(out_1, ..., out_K, cache)``.
    backward : callable
        ``backward(dout, cache)`` (``backward(dout_1, ..., dout_K, cache)``) returning one
        gradient per floating-point array in `args`, in order; a bare array when there is
        one. Keyword arguments, Python numbers, integer and boolean arrays get none.
    *args, **kwargs
        The forward's arguments. They are never modified, even when forward or backward
        raises. An exception from the pair is reported as a problem of the check, except
        NotImplementedError (an unfinished exercise), which propagates. Parameter dicts
        are copied before every call, so checking never updates running statistics, and
        NumPy's global random state is the same at every call (`checks.calling`). The
        keyword names below are the checker's own.
    tol : float, optional
        Pass threshold on the relative error of the float64 gradient: 1e-6 by default.
    seed : int
        Seed of the random upstream gradient and directions.
    strategy : {"auto", "elementwise", "directional"}
        "auto": elementwise for arguments of at most `ELEMENTWISE_MAX` elements.
    directions : int
        Random directions per argument for the directional strategy.
    nudge_kinks : bool
        When elements sit at kinks, move them up by 20 or more steps (different amounts,
        so that ties break) and check again; the report says how many were moved.
    raise_on_fail : bool
        Raise `GradientCheckError` (an AssertionError whose message is the report).
    name : str, optional
        Name shown in the report; by default the forward's name without ``_forward``.

    Returns
    -------
    GradReport
        ``report.ok``, ``print(report)``, ``report.plot()``.
    """
    if strategy not in ("auto", "elementwise", "directional"):
        raise ValueError(f"check_layer: strategy must be 'auto', 'elementwise' or "
                         f"'directional'; got {strategy!r}")
    if tol is not None and (not isinstance(tol, numbers.Real) or not 0 < tol < 1):
        raise ValueError(f"check_layer: tol must be a number in (0, 1); got {tol!r}")
    if not isinstance(directions, numbers.Integral) or directions < 1:
        raise ValueError(f"check_layer: directions must be an integer >= 1; got "
                         f"{directions!r}")
    layer = name or _layer_name(forward)
    args = _numbers_as_arrays(forward, args)
    floats = [np.asarray(a) for a in args if is_float_array(a)]
    dtype = np.result_type(*floats) if floats else FLOAT64
    report = GradReport(layer, dtype.name, TOLERANCES[FLOAT64] if tol is None else tol)
    names = _argument_names(forward, len(args))
    originals = _snapshot(args, kwargs, names)
    options = dict(seed=seed, strategy=strategy, directions=directions)
    try:
        with FixedCalls(forward) as calls:
            objective = _check(report, calls, backward, args, kwargs, names, **options)
    finally:
        report.problems += _modified(originals)
    if nudge_kinks and objective is not None and any(a.kinks for a in report.arguments):
        nudged, moved = _nudged(args, report, objective, names)
        report = check_layer(forward, backward, *nudged, tol=tol, name=layer, **options,
                             **kwargs)
        report.notes.append(f"{moved} elements at kinks were moved 20 or more steps up and "
                            "the check was run again at the moved inputs")
    if raise_on_fail:
        report.raise_if_failed()
    return report


def _numbers_as_arrays(forward, args):
    """`args` with the declared differentiable arguments that are integer arrays, lists or
    NumPy/Python numbers made float arrays, so that they can be perturbed.

    Integers become float64, as the layer computes with them; a Python number takes the
    dtype of the float arrays beside it, as NumPy's promotion treats it.
    """
    positions = gradient_positions(forward, args)
    floats = [np.asarray(a) for a in args if is_float_array(a)]
    beside = np.result_type(*floats) if floats else FLOAT64
    converted = list(args)
    for i in positions:
        arg = args[i]
        if is_float_array(arg):
            continue
        if is_python_number(arg):
            converted[i] = np.asarray(arg, dtype=beside)
        elif isinstance(arg, (np.ndarray, np.generic, list, tuple)):
            array = np.asarray(arg)
            if array.dtype.kind in "iu":
                converted[i] = array.astype(FLOAT64)
    return tuple(converted)


def assert_gradients(forward, backward, *args, **kwargs):
    """`check_layer` that raises `GradientCheckError` with the report table on failure.

    For pytest: ``assert_gradients(my_forward, my_backward, x, w)``.
    """
    return check_layer(forward, backward, *args, raise_on_fail=True, **kwargs)


def _check(report, calls, backward, args, kwargs, names, seed, strategy, directions):
    """Fill `report`; return the float64 objective, or None when the check stopped early."""
    outputs, cache = _run_forward(report, calls, args, kwargs)
    if outputs is None:
        return None
    repeat, _ = _run_forward(report, calls, args, kwargs)
    if repeat is None:
        return None
    for first, second in zip(outputs, repeat):
        if not np.array_equal(first, second):
            gap = float(np.max(np.abs(first.astype(np.float64) - second)))
            report.problems.append(
                f"forward is not deterministic: two calls with the same inputs differ by up "
                f"to {gap:.3g} (a random layer needs a fixed seed, e.g. dropout_param['seed'])")
            return None

    floats = [np.asarray(a) for a in args if is_float_array(a)]
    expected = np.result_type(*floats) if floats else None
    for k, out in enumerate(outputs):
        if floats and out.dtype != expected:
            label = "output" if len(outputs) == 1 else f"output {k}"
            report.problems.append(f"{label} is {out.dtype} for {expected} inputs: "
                                   "the layer contract keeps the dtype")
            return None

    # Salted, so that the upstream gradient never replays the stream of a
    # `default_rng(seed)` that made the inputs: u == x would make batch norm's dx vanish.
    rng = np.random.default_rng([seed, UPSTREAM_SALT])
    upstream = [rng.standard_normal(out.shape).astype(out.dtype) for out in outputs]
    differentiable = gradient_positions(calls.forward, args)
    for i, arg in enumerate(args):
        if i not in differentiable:
            if isinstance(arg, np.ndarray) and np.issubdtype(arg.dtype, np.floating):
                kind = "not checked: the contract covers float32 and float64"
            elif isinstance(arg, np.ndarray):
                kind = "integer/bool array"
            else:
                kind = "constant"
            report.arguments.append(
                ArgumentResult(names[i], NO_GRADIENT, detail=f"{kind}: {describe(arg)}"))
    if not differentiable:
        report.problems.append("no floating-point array argument: nothing to check")
        return None
    grads = _run_backward(report, backward, upstream, cache, args, differentiable, names)
    if grads is None:
        return None

    low_precision = any(np.asarray(args[i]).dtype != FLOAT64 for i in differentiable)
    objective = _reported(report, "forward on float64 copies",
                          lambda: Objective(calls, args, kwargs, upstream))
    if objective is FAILED:
        return None
    grads64, rounding = grads, None
    if low_precision:
        grads64 = _backward64(report, calls, backward, objective, differentiable, names)
        if grads64 is None:
            return None
        rounding = _rounding_spread(calls, backward, args, kwargs, upstream, differentiable,
                                    grads, rng)
        report.precision_tolerance = TOLERANCES[floats[0].dtype]
    tolerance, floor = report.tolerance, FLOOR_FRACTION[FLOAT64]
    if objective.dtype != FLOAT64:
        # The forward computes in lower precision even on float64 inputs, so the numeric
        # side carries that precision's rounding.
        tolerance, floor = TOLERANCES[objective.dtype], FLOOR_FRACTION[objective.dtype]
        report.tolerance = tolerance
        report.notes.append(f"forward returns {objective.dtype} for float64 inputs: numeric "
                            f"differences are judged with the {objective.dtype} tolerance")

    for k, (position, grad, grad64) in enumerate(zip(differentiable, grads, grads64)):
        size = np.size(args[position])
        elementwise = strategy == "elementwise" or (
            strategy == "auto" and size <= ELEMENTWISE_MAX)
        compare = _elementwise if elementwise else _directional
        result = compare(objective, position, np.asarray(grad64, dtype=np.float64),
                         tolerance, floor, rng, directions)
        result.name = names[position]
        result.detail = describe(args[position])
        if low_precision:
            _judge_precision(result, grad, grad64, objective, position, rounding[k])
        report.arguments.append(result)
    report.arguments.sort(key=lambda a: names.index(a.name))
    report.evaluations = objective.evaluations
    return objective


FAILED = object()


def _reported(report, what, call):
    """``call()``, or FAILED after recording in `report` an exception raised by user code.

    NotImplementedError propagates: an unfinished exercise is not a wrong gradient, and
    the student should see it as it is.
    """
    try:
        return call()
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the user's code is reported
        report.problems.append(f"{what} raised {type(exc).__name__}: {exc}")
        return FAILED


def _run_forward(report, calls, args, kwargs):
    """Call forward (through `calls`); return (outputs, cache), or (None, None)."""
    result = _reported(report, "forward",
                       lambda: calls(args, kwargs))
    if result is FAILED:
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


def _run_backward(report, backward, upstream, cache, args, differentiable, names):
    grads = _reported(report, "backward", lambda: backward(*upstream, cache))
    if grads is FAILED:
        return None
    return _match_gradients(report, grads, args, differentiable, names)


def _backward64(report, calls, backward, objective, differentiable, names):
    """The same backward run on float64 copies of the arguments (for float32 checks)."""
    def run():
        result = calls(objective.args, objective.kwargs)
        return backward(*objective.upstream, result[-1])

    grads = _reported(report, "forward/backward on float64 copies", run)
    if grads is FAILED:
        return None
    count = len(report.problems)
    grads = _match_gradients(report, grads, objective.args, differentiable, names,
                             check_dtype=False)
    if grads is None:
        report.problems[count:] = [f"on float64 copies: {p}" for p in report.problems[count:]]
    return grads


def _match_gradients(report, grads, args, differentiable, names, check_dtype=True):
    """The gradients as a list in argument order, or None after reporting a mismatch."""
    labels = [names[i] for i in differentiable]
    grads, problems = match_gradients(grads, args, differentiable, labels,
                                      check_dtype=check_dtype)
    report.problems += [message for _, message in problems]
    if grads is None:
        return None
    broken = [f"gradient of {label} has non-finite values (NaN or inf)"
              for label, grad in zip(labels, grads) if not np.all(np.isfinite(grad))]
    report.problems += broken
    return None if broken else grads


def _relative_errors(analytic, numeric, noise, floor_fraction, tolerance, kink=None):
    """Per-element |a - n| / max(|a| + |n|, floor); 0 at kinks.

    The floor is noise / tolerance, so that a difference within the numeric estimate's own
    error bound never fails, and at least `floor_fraction` of the largest |a| + |n|.
    """
    total = np.abs(analytic) + np.abs(numeric)
    valid = total if kink is None else total[~kink]
    scale = float(valid.max()) if valid.size else 0.0
    floor = np.maximum(np.maximum(np.asarray(noise) / tolerance, floor_fraction * scale),
                       np.finfo(np.float64).tiny)
    errors = np.array(np.abs(analytic - numeric) / np.maximum(total, floor), ndmin=0)
    if kink is not None:
        errors[kink] = 0.0
    return errors


def _settled(analytic, tolerance, floor):
    """A test that accepts a first numeric estimate clearly within a tenth of tolerance."""
    def settled(value, noise):
        error = abs(analytic - value) / max(abs(analytic) + abs(value), noise / tolerance,
                                            floor, 1e-300)
        return error <= tolerance / 10
    return settled


def _elementwise(objective, position, analytic, tolerance, floor_fraction, rng, directions):
    x = objective.args[position]
    numeric = np.zeros(x.shape)
    noise = np.zeros(x.shape)
    kink = np.zeros(x.shape, dtype=bool)
    provisional_floor = floor_fraction * float(np.max(np.abs(analytic), initial=0.0))
    for index in np.ndindex(*x.shape):
        found = objective.derivative(
            position, index=index,
            settled=_settled(float(analytic[index]), tolerance, provisional_floor))
        numeric[index], noise[index], kink[index] = found.value, found.noise, found.kink
    errors = _relative_errors(analytic, numeric, noise, floor_fraction, tolerance, kink)
    order = np.argsort(errors, axis=None)[::-1][:WORST_SHOWN]
    worst = [(tuple(int(i) for i in np.unravel_index(k, x.shape)), float(analytic.flat[k]),
              float(numeric.flat[k]), float(errors.flat[k])) for k in order]
    compared = errors[~kink]
    failing = errors > tolerance
    return ArgumentResult(
        "", FAIL if failing.any() else PASS, "elementwise",
        float(compared.max()) if compared.size else 0.0,
        float(np.median(compared)) if compared.size else 0.0, worst, int(kink.sum()),
        hint(analytic, numeric, failing), errors=errors, at_kinks=kink,
        analytic_values=analytic,
        numeric_values=numeric)


def _direction_error(objective, position, analytic, direction, tolerance, floor_fraction):
    """(relative error along `direction`, numeric derivative) or (None, ...) at a kink."""
    exact = float(np.vdot(analytic, direction))
    scale = float(np.sum(np.abs(analytic * direction)))
    found = objective.derivative(position, direction=direction,
                                 settled=_settled(exact, tolerance, floor_fraction * scale))
    if found.kink:
        return None, found
    floor = max(found.noise / tolerance, floor_fraction * scale, 1e-300)
    return abs(exact - found.value) / max(abs(exact) + abs(found.value), floor), found


def _random_direction(rng, shape, support=None):
    direction = np.zeros(shape)
    if support is None:
        direction = rng.standard_normal(shape)
    else:
        direction.flat[support] = rng.standard_normal(len(support))
    return direction / np.linalg.norm(direction)


def _directional(objective, position, analytic, tolerance, floor_fraction, rng, directions):
    shape = analytic.shape
    errors, kinks = [], 0
    for _ in range(directions):
        for _attempt in range(3):
            error, _ = _direction_error(objective, position, analytic,
                                        _random_direction(rng, shape), tolerance,
                                        floor_fraction)
            if error is not None:
                break
            kinks += 1
        if error is not None:
            errors.append(error)
    errors = np.array(errors)
    failed = bool(errors.size) and errors.max() > tolerance
    result = ArgumentResult(
        "", FAIL if failed or not errors.size else PASS, f"directional (k={directions})",
        float(errors.max()) if errors.size else float("nan"),
        float(np.median(errors)) if errors.size else float("nan"), kinks=kinks)
    if not errors.size:
        result.hint = "every direction tried crossed a kink"
    if failed:
        _locate(objective, position, analytic, tolerance, floor_fraction, rng, result)
    return result


def _locate(objective, position, analytic, tolerance, floor_fraction, rng, result):
    """Bisect towards a wrong element, then compare a sample of elements one by one."""
    shape = analytic.shape
    support = np.arange(analytic.size)
    while support.size > 1:
        halves = np.array_split(support, 2)
        found = [_direction_error(objective, position, analytic,
                                  _random_direction(rng, shape, half), tolerance,
                                  floor_fraction)[0] for half in halves]
        found = [-1.0 if e is None else e for e in found]
        best = int(np.argmax(found))
        if found[best] <= tolerance:
            break
        support = halves[best]
    sample = {int(k) for k in rng.choice(analytic.size, min(SAMPLE, analytic.size),
                                         replace=False)}
    sample |= {int(k) for k in support[:4]}
    indices = sorted(sample)
    numeric, noise, kink = [], [], []
    for k in indices:
        found = objective.derivative(position, index=np.unravel_index(k, shape))
        numeric.append(found.value)
        noise.append(found.noise)
        kink.append(found.kink)
    picked = analytic.reshape(-1)[indices]
    numeric, kink = np.array(numeric), np.array(kink)
    errors = _relative_errors(picked, numeric, np.array(noise), floor_fraction, tolerance,
                              kink)
    order = np.argsort(errors)[::-1][:WORST_SHOWN]
    result.worst = [(tuple(int(i) for i in np.unravel_index(indices[k], shape)),
                     float(picked[k]), float(numeric[k]), float(errors[k])) for k in order]
    result.hint = hint(picked, numeric, errors > tolerance)


def _rounding_spread(calls, backward, args, kwargs, upstream, differentiable, grads, rng):
    """How far a low-precision backward moves when its inputs move by a few ulps.

    Each floating-point argument is multiplied by (1 + r * 4 eps) with random signs r, in
    its own dtype, twice; the largest change of each gradient is an estimate of the
    rounding noise that computation carries, structural cancellation included (a bias
    before a batch norm has an exact gradient of 0 and a float32 one of pure noise). It
    is None for an argument whose perturbed run failed.
    """
    spread = [0.0] * len(differentiable)
    for _ in range(2):
        moved = list(args)
        for i in differentiable:
            a = np.asarray(args[i])
            jitter = rng.choice([-4.0, 4.0], size=a.shape) * np.finfo(a.dtype).eps
            moved[i] = (a * (1 + jitter)).astype(a.dtype)
        try:
            result = calls(moved, kwargs)
            again = backward(*upstream, result[-1])
        except Exception:  # noqa: BLE001 - the unperturbed run worked; keep what we have
            return spread
        again = [again] if len(differentiable) == 1 else list(again)
        for k, (grad, other) in enumerate(zip(grads, again)):
            change = np.abs(np.asarray(other, np.float64) - np.asarray(grad, np.float64))
            spread[k] = max(spread[k], float(change.max()) if change.size else 0.0)
    return spread


def _judge_precision(result, grad, grad64, objective, position, spread):
    """Compare the float32 gradient with the float64 run of the same backward.

    The comparison allows for rounding of two sizes: `PRECISION_ULPS` * eps32 * M / scale
    (perturbing an element by its own scale moves L by at most about M, the size of L's
    terms) and `SPREAD_FACTOR` times the measured `spread` of the backward under
    perturbations of a few ulps (`_rounding_spread`).
    """
    low = np.asarray(grad, dtype=np.float64)
    dtype = np.asarray(grad).dtype
    x = objective.args[position]
    scale = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    noise = PRECISION_ULPS * float(np.finfo(dtype).eps) * objective.magnitude / (scale or 1.0)
    noise += SPREAD_FACTOR * spread
    errors = _relative_errors(low, np.asarray(grad64, dtype=np.float64), noise,
                              FLOOR_FRACTION[dtype], TOLERANCES[dtype])
    result.precision_error = float(errors.max()) if errors.size else 0.0
    if result.precision_error > TOLERANCES[dtype] and result.status == PASS:
        result.status = FAIL
        worst = np.unravel_index(int(np.argmax(errors)), errors.shape)
        result.hint = (f"the {dtype} backward differs from the float64 one by "
                       f"{result.precision_error:.1e} at {tuple(int(i) for i in worst)}: a "
                       "precision problem")


def _nudged(args, report, objective, names):
    """Copies of `args` with the elements at kinks moved up; and how many were moved.

    The k-th such element of an argument moves 20 + 10 k steps: tied elements (a max
    pool window of equal values) move by different amounts, so the tie is broken too.
    """
    nudged, moved = list(args), 0
    for result in report.arguments:
        if not result.kinks or result.at_kinks is None:
            continue
        position = names.index(result.name)
        x = np.array(args[position])
        for k, index in enumerate(zip(*np.nonzero(result.at_kinks))):
            x[index] += (20 + 10 * k) * objective.step(objective.args[position], index)
            moved += 1
        nudged[position] = x
    return nudged, moved


def _layer_name(forward):
    return pair_name(forward)


def _argument_names(forward, count):
    try:
        params = [p for p in inspect.signature(forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:count]]
    return names + [f"args[{i}]" for i in range(len(names), count)]


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
