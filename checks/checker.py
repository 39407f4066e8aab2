"""Check a layer pair's backward against central differences of its forward.

The pair is reduced to one scalar with a random upstream gradient u_k per output,
L(args) = sum_k <u_k, out_k(args)>, so that backward(u_1, ..., u_K, cache) must equal
dL/d(arg) for every argument that gets a gradient. The upstream gradient is random and
never all ones: with all ones, training-mode batch norm's dx is exactly zero and hides
its bugs.

The verdict is the gradient's. A check fails when a gradient is wrong, missing, of the
wrong shape, dtype or count, not computable (backward raises), or cannot be judged (a
NaN numeric gradient, an argument on a jump of the forward, a noise floor above the
gradients: "cannot judge"), and when the forward is not deterministic. Misbehaviour that
leaves every gradient right is a warning naming the argument and the user's file and
line, found by calling the code again on read-only copies (`_raising_line`).

How the pair is called (`checks.fixed_randomness`). Every forward call gets fresh copies
of its arrays, nested ones too, in the caller's memory layout: the caller's arrays are never
touched, the numeric side never sees what a forward writes, and a forward that writes
into its input (``x -= x.max(...)``) is judged on what it returns, with a warning (it
breaks a network whose previous layer cached that array). Every backward call gets its
own copies of the upstream gradients and of the cache, so a backward that writes into
``dout`` (``dout *= 2; return dout``), consumes its cache (``cache.pop()``) or writes
into it is judged by what it returns, with a warning. Backward is called again with the
same cache and dout (it must return the same gradients: one that draws random numbers
does not), and with dout scaled by -2 (it must return -2 times the gradients: a
vector-Jacobian product is linear in dout, and scaling by a power of two is exact in
floating point, so a linear backward passes to the last bit while one that ignores dout,
adds to it, or takes its square or absolute value does not).

Two strategies compare the gradients, chosen per argument by its size
(`ELEMENTWISE_MAX`) unless `strategy=` says otherwise:

- elementwise: every element by central differences, 2 to 4 forward calls each;
- directional: k random unit directions v, comparing <grad, v> with the numeric
  derivative along v, 2 to 4 forward calls each whatever the size. A gradient with a
  relative error rho (in norm) slips past one direction when |<e, v>| happens to fall
  below tol * |<g, v>|, which for a random v has probability about
  (2/pi) * 2 tol / rho: for rho = 1e-4 and tol = 1e-6, about 1.3e-2 per direction and
  3e-8 for k = 4 independent directions. When a direction fails, bisection over halves
  of the flattened argument (a direction restricted to each half, following the worse
  one) finds a wrong element in about 2 log2(n) directional differences, and the report
  names it by its index in the argument. What it resolves is an error whose norm is
  above about tol times the gradient's norm: one element of n off by a relative 1e-4 is
  ~1e-4 / sqrt(n) of the norm, below tol for n of a million. For element-level
  resolution on a large argument pass ``strategy="elementwise"``.

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

import copy
import hashlib
import inspect
import os
import traceback
from dataclasses import replace
from functools import partial

import numpy as np

from layers import contract
from layers.contract import (argument_names, describe, gradient_list, gradient_positions,
                             is_float_array, is_python_number, match_gradients, pair_name)
from .fixed_randomness import (FixedCalls, difference, frozen, is_read_only_error, viewed,
                               written)
from .numeric import (JITTER_ULPS, JUMP_STRETCH, Direction, Objective, abs_dot, dot,
                      max_abs_difference, rounding_spread)
from .hints import hint
from .options import DIRECTIONS, CheckOptions
from .report import FAIL, NO_GRADIENT, PASS, ArgumentResult, GradReport

# Elementwise costs 2 to 4 forward calls per element, directional the same per direction
# whatever the size: at 512 elements an elementwise check costs about as much as one
# forward call on each of a thousand or two perturbed inputs, which keeps
# ``python -m checks`` over the whole library within seconds, and resolves every element
# of the small example inputs the layers register.
ELEMENTWISE_MAX = 512
WORST_SHOWN = 5
# Elements compared one by one after a bisection, besides the ones it ends on: enough
# for a hint to see a pattern (a factor, a sign) in a sample.
SAMPLE = 16
# Draws of the signs that probe two halves before a bisection stops (`_locate`).
BISECTION_TRIES = 3

# float64: central differences at the step of `checks.numeric` carry an error of about
# eps^(2/3) ~ 4e-11 of the derivative, and the finest bug of the planted-bug benchmark
# (one element off by a relative 1e-4) is two orders above 1e-6. Where rounding rather
# than truncation sets the error (a gradient that is exactly 0, a softmax over a
# vocabulary) it comes closer: the false-alarm sweep over 20 seeds
# (python benchmarks/bench_checker.py --only false-alarms --seeds 20) has its closest
# pass at 0.52 of the tolerance. float32: its backward is compared with its own float64
# run, and eps32 ~ 1.2e-7 summed over thousands of terms reaches 1e-4; the sweep's
# closest float32 pass is 0.23 of 1e-3.
TOLERANCES = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}
# The finest fraction of an argument's largest gradient that is judged: an element whose
# gradient is smaller is compared on that floor. float64: rounding of the largest terms is
# ~1e-16 of them, and even cancellation by a factor 1e7 stays below 1e-8; float32: its
# eps 1.2e-7 times the same margin gives 1e-3, which is also its tolerance. The values
# come from that derivation, not from tuning: the false-alarm sweep over 20 seeds
# (python benchmarks/bench_checker.py --only false-alarms --seeds 20) gives the same
# verdicts at 1e-9 and 1e-4.
FLOOR_FRACTION = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-3}
FLOAT64 = np.dtype(np.float64)
# Salted, so that the upstream gradient never replays the stream of a `default_rng(seed)`
# that made the inputs: u == x would make batch norm's dx vanish.
UPSTREAM_SALT = 0x6A7E
# Rounding of a float32 backward, allowed for when it is compared with its float64 run:
# an element's share of L moves by at most about M (the size of L's terms) when the
# element moves by its own scale, so PRECISION_ULPS ulps of M / scale bound the rounding
# of its gradient; and SPREAD_FACTOR times the spread measured under perturbations of a
# few ulps (`checks.numeric.rounding_spread`) covers amplification. Measured with the
# false-alarm sweep over 20 seeds (the command above): the closest float32 pass is 0.23
# of the float32 tolerance, 0.46 at SPREAD_FACTOR = 2 and 0.91 at 1; PRECISION_ULPS from
# 2 to 8 leaves it at 0.23 (on the library's layers the measured spread is the larger
# allowance; the bound stays for a layer whose spread two draws underestimate). Over the
# full 200 seeds the closest is 0.80, at one seed of one layer (conv_bn_relu's bias,
# whose exact gradient is 0 and whose float32 one is rounding alone). The planted-bug
# benchmark catches the same bugs at 4 times either value: a logic bug shows in the
# float64 run.
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
        one. Keyword arguments, Python numbers, integer and boolean arrays get none. It
        gets its own copy of each upstream gradient at every call; writing into it is
        reported as a warning (``report.warnings``), not a failure.
    *args, **kwargs
        The forward's arguments. They are never modified, even when forward or backward
        raises. An exception from the pair is reported as a problem of the check, with
        the file and line that raised it, except NotImplementedError (an unfinished
        exercise), which propagates. Parameter dicts are copied before every call, so
        checking never updates running statistics, and NumPy's global random state is
        the same at every call (`checks.fixed_randomness`; safe in concurrent threads).
        The keyword names below are the checker's own.
    tol, seed, strategy, directions, nudge_kinks, raise_on_fail, name
        The check's options: see `CheckOptions`. `name` is by default the forward's name
        without ``_forward``.

    Returns
    -------
    GradReport
        ``report.ok``, ``print(report)``, ``report.plot()``.
    """
    options = CheckOptions(tol=tol, seed=seed, strategy=strategy, directions=directions,
                           nudge_kinks=nudge_kinks, raise_on_fail=raise_on_fail, name=name,
                           caller="check_layer")
    return check_layer_with(options, forward, backward, args, kwargs)


def check_layer_with(options, forward, backward, args, kwargs):
    """`check_layer` with its options made: what every entry point that checks a pair of
    its own making calls (`check_graph` for each gate, `check_torch`).

    Parameters
    ----------
    options : CheckOptions
    forward, backward
        As for `check_layer`.
    args : sequence
        The forward's positional arguments.
    kwargs : dict
        The forward's keyword arguments.

    Returns
    -------
    GradReport
    """
    args = numbers_as_arrays(forward, args)
    report = check_pair(forward, backward, args, kwargs, argument_names(forward, len(args)),
                        options.name or _layer_name(forward), options)
    if options.raise_on_fail:
        report.raise_if_failed()
    return report


def numbers_as_arrays(forward, args):
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


def check_pair(forward, backward, args, kwargs, names, layer, options, *, watch_cache=True):
    """`check_layer` with the arguments' names given: the engine under every entry point.

    Parameters
    ----------
    forward, backward, args, kwargs
        As for `check_layer` (`args` a sequence, `kwargs` a dict).
    names : list of str
        One per argument, shown in the report's rows.
    layer : str
        The report's title.
    options : CheckOptions
        `tol`, `seed`, `strategy`, `directions` and `nudge_kinks` are used here;
        `raise_on_fail` and `name` are the entry point's to apply.
    watch_cache : bool
        Warn when backward writes into its cache (a graph's backward records its
        gradients in the run it is given, by design: it passes False).

    Returns
    -------
    GradReport
    """
    positions = gradient_positions(forward, args)
    floats = [np.asarray(a) for a in args if is_float_array(a)]
    dtype = np.result_type(*floats) if floats else FLOAT64
    tol = options.tol
    report = GradReport(layer, dtype.name, TOLERANCES[FLOAT64] if tol is None else tol)
    originals = _snapshot(args, kwargs, names)
    calls = FixedCalls(forward, args, kwargs)
    check = _Check(report, calls, backward, args, kwargs, names, positions, options,
                   watch_cache)
    try:
        with calls:
            objective = check.run()
    finally:
        report.problems += _modified(originals)
        report.warnings += check.warnings()
        report.notes += check.notes()
    kinks = any(a.kinks for a in report.arguments)
    if options.nudge_kinks and objective is not None and kinks:
        nudged, moved = _nudged(args, report, objective, names)
        report = check_pair(forward, backward, nudged, kwargs, names, layer,
                            replace(options, nudge_kinks=False), watch_cache=watch_cache)
        report.notes.append(f"{moved} elements at kinks were moved 20 or more steps up and "
                            "the check was run again at the moved inputs")
    return report


FAILED = object()


def _raising_line(call):
    """Where ``call()`` raises, as `_raised_at` says it ("" if it does not raise)."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - only where it raised is wanted
        return _raised_at(exc)
    return ""


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
        report.problems.append(f"{what} raised {type(exc).__name__}: {exc}{_raised_at(exc)}")
        return FAILED


# Frames that are never the place to show: NumPy, the checker, the graph that runs the
# gates (its messages name the gate), and the argument checks every layer calls (their
# messages name the layer and the argument).
_HERE = os.path.dirname(os.path.abspath(__file__))
_NOT_THE_PLACE = (os.path.dirname(os.path.abspath(np.__file__)) + os.sep, _HERE + os.sep,
                  os.path.join(os.path.dirname(_HERE), "graph") + os.sep,
                  os.path.abspath(contract.__file__))


def _raised_at(exc):
    """Where `exc` was raised: the innermost frame of its traceback outside NumPy, the
    checker and the argument checks (the user's line), as
    `` (at FILE:LINE, in FUNCTION: SOURCE)``; "" if there is none."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(_NOT_THE_PLACE)]
    if not frames:
        return ""
    frame = frames[-1]
    source = f": {frame.line.strip()}" if frame.line else ""
    return f" (at {frame.filename}:{frame.lineno}, in {frame.name}{source})"


class _Check:
    """One check of a pair at one input: `run` goes through the phases in order.

    Attributes shared by the phases: the `report` being filled, `calls` (the forward
    with fixed randomness), `positions` (the arguments that get a gradient), and, once
    drawn, `upstream` (one random upstream gradient per output).
    """

    def __init__(self, report, calls, backward, args, kwargs, names, positions, options,
                 watch_cache=True):
        self.report, self.calls, self.backward = report, calls, backward
        self.args, self.kwargs, self.names, self.positions = args, kwargs, names, positions
        self.strategy, self.directions = options.strategy, options.directions
        self.rng = np.random.default_rng([options.seed, UPSTREAM_SALT])
        self.upstream = None
        self.dout_names = None
        self.douts_modified = {}  # output -> where backward wrote into its dout
        self.inputs_written = []  # (label, where the forward wrote into it)
        self.watch_cache = watch_cache
        self.cache_changed = None  # (path, "consumed" or "modified", where)
        self.cache_shared = None  # why backward got the forward's own cache
        self.cache_written = False  # whether backward wrote into an array of its cache
        self.low_precision = any(np.asarray(args[i]).dtype != FLOAT64 for i in positions)

    def run(self):
        """Fill the report; return the float64 objective, or None when the check stopped."""
        outputs, cache = self.forward_twice()
        if outputs is None or not self.outputs_follow_inputs(outputs):
            return None
        self.list_constants()
        if not self.positions:
            self.report.problems.append("no floating-point array argument: nothing to check")
            return None
        self.draw_upstream(outputs)
        del outputs
        # The numeric side copies the arguments before any backward runs: a backward that
        # writes into its cache may write into arrays the cache shares with them.
        objective = _reported(self.report, "forward on float64 copies",
                              lambda: Objective(self.calls, self.args, self.kwargs,
                                                self.upstream, self.positions))
        if objective is FAILED:
            return None
        grads = self.gradients(self.upstream, cache, self.args)
        if grads is None:
            return None
        run64 = (grads, cache, self.args, self.upstream)
        if self.low_precision:
            run64 = self.gradients64(objective)
            if run64 is None:
                return None
        self.check_repeatable_and_linear(*run64, objective.dtype)
        spread = self.rounding(grads, objective.jumps) if self.low_precision else None
        self.compare(objective, grads, run64[0], spread)
        return objective

    # -- phases ------------------------------------------------------------------------

    def forward_twice(self):
        """(outputs, cache) of the first of two forward calls, or (None, None) when the
        forward fails, breaks the contract or is not deterministic. The first call is
        watched for writes into its inputs."""
        outputs, _ = self.run_forward(watch=True)
        if outputs is None:
            return None, None
        # A forward that writes into nothing needs no copies of the arrays already in
        # their caller's layout: it is given read-only views from now on.
        self.calls.share = not self.inputs_written
        repeat, cache = self.run_forward()
        if repeat is None:
            return None, None
        for first, second in zip(outputs, repeat):
            if not np.array_equal(first, second):
                gap = max_abs_difference(first, second)
                self.report.problems.append(
                    f"forward is not deterministic: two calls with the same inputs differ by "
                    f"up to {gap:.3g} (a random layer needs a fixed seed, e.g. "
                    "dropout_param['seed'])")
                return None, None
        return outputs, cache

    def run_forward(self, watch=False):
        """Call forward; return (outputs, cache), or (None, None) after a problem.

        With `watch`, the arrays it wrote into are noted, with the line that wrote
        (found by calling it again on read-only copies).
        """
        found = [] if watch else None
        result = _reported(self.report, "forward",
                           lambda: self.calls(self.args, self.kwargs, found=found))
        if result is FAILED:
            return None, None
        if watch and written(found):
            where = _raising_line(lambda: self.calls(self.args, self.kwargs, frozen=True))
            self.inputs_written = [(self.label(path), where) for path in written(found)]
        if not isinstance(result, tuple) or len(result) < 2:
            self.report.problems.append(f"forward must return (out, cache) or (out_1, ..., "
                                        f"out_K, cache); got {describe(result)}")
            return None, None
        outputs = [np.asarray(out) for out in result[:-1]]
        for k, out in enumerate(outputs):
            label = _output_label(k, len(outputs))
            if not np.issubdtype(out.dtype, np.floating):
                self.report.problems.append(f"{label} is not floating-point: {describe(out)}")
                return None, None
            if not np.all(np.isfinite(out)):
                self.report.problems.append(f"{label} has {np.size(out) - np.isfinite(out).sum()}"
                                            " non-finite values (NaN or inf)")
                return None, None
        return outputs, result[-1]

    def outputs_follow_inputs(self, outputs):
        """Whether every output has the dtype NumPy promotes the float inputs to (the
        contract)."""
        floats = [np.asarray(a) for a in self.args if is_float_array(a)]
        if not floats:
            return True
        wanted = np.result_type(*floats)
        for k, out in enumerate(outputs):
            if out.dtype != wanted:
                self.report.problems.append(
                    f"{_output_label(k, len(outputs))} is {out.dtype} for {wanted} inputs: "
                    "the layer contract keeps the dtype")
                return False
        return True

    def list_constants(self):
        """A row without a gradient for every argument that gets none."""
        for i, arg in enumerate(self.args):
            if i in self.positions:
                continue
            if isinstance(arg, np.ndarray) and np.issubdtype(arg.dtype, np.floating):
                kind = "not checked: the contract covers float32 and float64"
            elif isinstance(arg, np.ndarray):
                kind = "integer/bool array"
            else:
                kind = "constant"
            self.report.arguments.append(
                ArgumentResult(self.names[i], NO_GRADIENT, detail=f"{kind}: {describe(arg)}"))

    def draw_upstream(self, outputs):
        self.upstream = [self.rng.standard_normal(out.shape).astype(out.dtype)
                         for out in outputs]
        self.dout_names = _upstream_names(self.backward, len(outputs))

    def label(self, path):
        """An argument's label for a path of `checks.fixed_randomness.fresh`: ``x``,
        ``bn_param['running_mean']``."""
        first, *rest = path
        name = self.names[first] if isinstance(first, int) else first
        return name + "".join(f"[{key!r}]" for key in rest)

    def call_backward(self, upstream, cache):
        """backward on copies of `upstream` and of `cache`, raw result.

        Every call gets its own copy of the cache: new containers holding read-only
        views of its arrays (`checks.fixed_randomness.viewed`), or once backward is seen writing
        into one of them, a deep copy. A backward that consumes or changes its cache
        (``cache.pop()``) is thus judged by the gradients it returns; the writes into
        douts and cache are noted, with the line that made them (found by calling
        backward again on read-only copies).
        """
        douts, given = [np.array(u, copy=True) for u in upstream], self.cache_copy(cache)
        try:
            result = self.backward(*douts, given)
        except ValueError as exc:
            if self.cache_written or given is cache or not is_read_only_error(exc):
                raise
            # It wrote into an array of its cache: from now on it gets deep copies.
            self.cache_written = True
            douts, given = [np.array(u, copy=True) for u in upstream], self.cache_copy(cache)
            result = self.backward(*douts, given)
            self.note_cache_change(upstream, cache, given, _raised_at(exc))
        self.note_dout_writes(upstream, douts, cache)
        self.note_cache_change(upstream, cache, given)
        return result

    def note_dout_writes(self, upstream, douts, cache):
        """Note the upstream gradients that backward wrote into, and where."""
        for k, (dout, u) in enumerate(zip(douts, upstream)):
            if k in self.douts_modified or (dout.shape == u.shape and np.array_equal(dout, u)):
                continue
            read_only = [frozen(v) if j == k else np.array(v) for j, v in enumerate(upstream)]
            self.douts_modified[k] = _raising_line(
                partial(self.backward, *read_only, self.cache_copy(cache)))

    def note_cache_change(self, upstream, cache, given, where=None):
        """Note how backward changed `given`, its copy of `cache`, and where (found by a
        call on a read-only copy unless `where` is known)."""
        if not self.watch_cache or given is cache or self.cache_changed is not None:
            return
        changed = difference(cache, given)
        if not changed:
            return
        if where is None:
            where = _raising_line(lambda: self.backward(
                *[np.array(u) for u in upstream], frozen(self.cache_copy(cache))))
        self.cache_changed = (*changed, where)

    def cache_copy(self, cache):
        """A copy of `cache` for one backward call (`call_backward`), or `cache` itself
        when it cannot be copied (noted)."""
        try:
            return copy.deepcopy(cache) if self.cache_written else viewed(cache)
        except Exception as exc:  # noqa: BLE001 - any cache that cannot be copied is shared
            self.cache_shared = f"{type(exc).__name__}: {exc}"
            return cache

    def gradients(self, upstream, cache, args, check_dtype=True, what="backward"):
        """The backward's gradients at `cache` as a list, or None after a problem."""
        result = _reported(self.report, what, lambda: self.call_backward(upstream, cache))
        if result is FAILED:
            return None
        grads, problems = _matched(result, args, self.positions, self.names, check_dtype)
        prefix = "" if what == "backward" else f"{what}: "
        self.report.problems += [prefix + p for p in problems]
        return grads

    def gradients64(self, objective):
        """(gradients, cache, args, upstream) of the same backward run on float64 copies.

        The forward gets copies of the objective's arguments, so that a backward writing
        into its cache cannot move the point the numeric side differentiates at.
        """
        args64 = [np.array(a) if i in self.positions else a
                  for i, a in enumerate(objective.args)]
        result = _reported(self.report, "forward on float64 copies",
                           lambda: self.calls(args64, self.kwargs))
        if result is FAILED:
            return None
        grads = self.gradients(objective.upstream, result[-1], args64, check_dtype=False,
                               what="backward on float64 copies")
        if grads is None:
            return None
        return grads, result[-1], args64, objective.upstream

    def check_repeatable_and_linear(self, grads, cache, args, upstream, dtype):
        """Call backward again with the same dout, then with -2 dout; report a difference.

        Both comparisons allow `FLOOR_FRACTION` of the largest gradient, for the
        precision the computation runs in.
        """
        resolution = FLOOR_FRACTION.get(np.dtype(dtype), FLOOR_FRACTION[np.dtype(np.float32)])
        scale = max(float(np.max(np.abs(g), initial=0.0)) for g in grads)
        again = self.later_call(upstream, cache, args)
        if again is None:
            return
        gap, where = _largest_gap(again, grads)
        if gap > resolution * scale:
            self.report.problems.append(
                f"backward is not repeatable: a second call with the same cache and dout "
                f"returns other gradients (by up to {gap / scale:.2g} of the largest "
                f"gradient, in {self.names[self.positions[where]]}); each call got its own "
                "copy of the cache: does backward draw random numbers or keep state "
                "between calls?")
            return
        del again
        scaled = self.later_call([-2 * u for u in upstream], cache, args)
        if scaled is None:
            return
        gap, where = _largest_gap(scaled, grads, factor=-2.0)
        if gap > resolution * scale * 2:
            self.report.problems.append(
                f"backward is not linear in dout: backward(-2 dout) differs from -2 "
                f"backward(dout) by up to {gap / (2 * scale):.2g} of the largest gradient "
                f"(in {self.names[self.positions[where]]}); a backward multiplies dout by "
                "the local Jacobian: does it ignore dout, add to it, or take its square or "
                "absolute value?")

    def later_call(self, upstream, cache, args):
        """The gradients of one more backward call, or None after a problem."""
        result = _reported(self.report, "backward (called again)",
                           lambda: self.call_backward(upstream, cache))
        if result is FAILED:
            return None
        grads, problems = _matched(result, args, self.positions, self.names,
                                   check_dtype=False)
        if problems:
            self.report.problems.append(f"backward is not repeatable: called again with the "
                                        f"same cache, {problems[0]}")
        return grads

    def rounding(self, grads, jumps):
        """Per argument, how far the low-precision backward moves under a few ulps (the
        arguments on `jumps` held still: crossing a jump is no rounding)."""
        def evaluate(moved):
            try:
                result = self.calls(moved, self.kwargs)
                again = self.call_backward(self.upstream, result[-1])
            except Exception:  # noqa: BLE001 - the unperturbed run worked; no spread seen
                return grads
            return gradient_list(again, len(self.positions))

        moved = [i for i in self.positions if i not in jumps]
        return rounding_spread(evaluate, self.args, moved, grads, self.rng)

    def compare(self, objective, grads, grads64, spread):
        """A row per differentiable argument: its gradient against the numeric one."""
        report = self.report
        tolerance, floor = report.tolerance, FLOOR_FRACTION[FLOAT64]
        if objective.dtype != FLOAT64:
            # The forward computes in lower precision even on float64 inputs, so the
            # numeric side carries that precision's rounding.
            tolerance, floor = TOLERANCES[objective.dtype], FLOOR_FRACTION[objective.dtype]
            report.tolerance = tolerance
            report.notes.append(f"forward returns {objective.dtype} for float64 inputs: "
                                f"numeric differences are judged with the {objective.dtype} "
                                "tolerance")
        if self.low_precision:
            report.precision_tolerance = TOLERANCES[np.dtype(np.float32)]
        # A loss (one scalar output): an error proportional to an argument, per unit of
        # the upstream gradient, is a term like regularization's reg * W (`hint`).
        scalar = len(objective.upstream) == 1 and objective.upstream[0].ndim == 0
        loss_scale = float(objective.upstream[0]) if scalar else None
        for k, (position, grad, grad64) in enumerate(zip(self.positions, grads, grads64)):
            size = np.size(self.args[position])
            elementwise = self.strategy == "elementwise" or (
                self.strategy == "auto" and size <= ELEMENTWISE_MAX)
            if position in objective.jumps:
                result = _on_a_jump(objective, position)
            else:
                compare = _elementwise if elementwise else _directional
                result = compare(objective, position, np.asarray(grad64, dtype=np.float64),
                                 tolerance, floor, self.rng, self.directions, loss_scale)
            result.name = self.names[position]
            result.detail = describe(self.args[position])
            if result.hint.startswith(CANNOT_JUDGE):
                report.problems.append(f"{CANNOT_JUDGE} {result.name}: "
                                       f"{result.hint[len(CANNOT_JUDGE) + 2:]}")
            elif spread is not None and np.asarray(grad).dtype != FLOAT64:
                _judge_precision(result, grad, grad64, objective, position, spread[k])
            report.arguments.append(result)
        report.arguments.sort(key=lambda a: self.names.index(a.name))
        report.evaluations = objective.evaluations

    def warnings(self):
        """What the check saw that is wrong but does not make the gradients wrong."""
        found = [f"forward wrote into its input {label} in place{where}; every forward call "
                 "was given its own copy, so this does not fail the check, but it breaks a "
                 "network: the previous layer may have cached that array, and its backward "
                 "would then read the modified values (write the result into a new array)"
                 for label, where in self.inputs_written]
        found += [f"backward wrote into its upstream gradient {self.dout_names[k]} in "
                  f"place{where}; its gradients were judged as returned, so this does not "
                  "fail the check, but it breaks wherever the same array is used again "
                  f"(make a new array: 2 * {self.dout_names[k]}, not {self.dout_names[k]} "
                  "*= 2)" for k, where in sorted(self.douts_modified.items())]
        if self.cache_changed:
            path, kind, where = self.cache_changed
            what = ("consumed its cache (a container in it lost items: pop or del)"
                    if kind == "consumed" else "modified its cache")
            found.append(f"backward {what} at {path}{where}; every backward call was given "
                         "its own copy of the cache, so this does not fail the check, but a "
                         "second backward through the same forward (a second loss, a "
                         "repeated gradient check) would break or read the changed values")
        return found

    def notes(self):
        if self.cache_shared is None:
            return []
        return [f"backward was given the forward's own cache, which copy.deepcopy cannot "
                f"copy ({self.cache_shared}): writes into it were not watched"]


def _output_label(k, count):
    return "output" if count == 1 else f"output {k}"


def _upstream_names(backward, count):
    """The names of backward's upstream-gradient parameters (``dout``, or ``dnext_h``,
    ``dnext_c``), or ``dout`` / ``dout k`` where its signature cannot say."""
    try:
        params = [p.name for p in inspect.signature(backward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if len(params) == count + 1:
        return params[:count]
    return ["dout"] if count == 1 else [f"dout {k}" for k in range(count)]


def _largest_gap(grads, reference, factor=1.0):
    """(max over arguments of max |grad - factor * reference|, the argument it is in)."""
    gaps = [max_abs_difference(g, r, factor) for g, r in zip(grads, reference)]
    where = int(np.argmax(gaps))
    return gaps[where], where


def _matched(result, args, positions, names, check_dtype=True):
    """A backward's result as a list in argument order (the contract's
    `match_gradients`), and what is wrong with it: ([grads], []) or (None, problems)."""
    labels = [names[i] for i in positions]
    grads, problems = match_gradients(result, args, positions, labels,
                                      check_dtype=check_dtype)
    if grads is None:
        return None, [message for _, message in problems]
    broken = [f"gradient of {label} has non-finite values (NaN or inf)"
              for label, grad in zip(labels, grads) if not np.all(np.isfinite(grad))]
    return (None, broken) if broken else (grads, [])


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


def _elementwise(objective, position, analytic, tolerance, floor_fraction, rng, directions,
                 loss_scale=None):
    shape = analytic.shape
    numeric = np.zeros(shape)
    noise = np.zeros(shape)
    kink = np.zeros(shape, dtype=bool)
    held = np.zeros(shape, dtype=bool)
    fixed = objective.fixed[position]
    provisional_floor = floor_fraction * float(np.max(np.abs(analytic), initial=0.0))
    flat_analytic = analytic.reshape(-1)
    for k in range(analytic.size):
        if fixed is not None and fixed[k]:
            held.flat[k] = True
            continue
        found = objective.derivative(
            position, Direction.element(k),
            settled=_settled(float(flat_analytic[k]), tolerance, provisional_floor))
        numeric.flat[k], noise.flat[k], kink.flat[k] = found.value, found.noise, found.kink
    left_out = kink | held
    errors = _relative_errors(analytic, numeric, noise, floor_fraction, tolerance, left_out)
    cause = _unjudgeable(objective, position, analytic, numeric, noise, kink, left_out)
    errors[~np.isfinite(errors)] = np.inf
    order = np.argsort(errors, axis=None)[::-1][:WORST_SHOWN]
    worst = [(_index(k, shape), float(analytic.flat[k]), float(numeric.flat[k]),
              float(errors.flat[k])) for k in order]
    compared = errors[~left_out]
    failing = errors > tolerance
    return ArgumentResult(
        "", FAIL if failing.any() or cause else PASS, "elementwise",
        float(compared.max()) if compared.size else 0.0,
        float(np.median(compared)) if compared.size else 0.0, worst, int(kink.sum()),
        f"{CANNOT_JUDGE}: {cause}" if cause else hint(
            analytic, numeric, failing, value=_scaled(objective.args[position], loss_scale)),
        held=int(held.sum()), errors=errors,
        at_kinks=kink, analytic_values=analytic, numeric_values=numeric)


CANNOT_JUDGE = "cannot judge"


def _typical_gradient(objective, position):
    """The size of a typical element of argument `position`'s gradient, from L alone:
    M spread over the argument's elements at their root mean square (a layer whose
    output is of degree 1 in the argument has gradients of about this size)."""
    size = max(np.size(objective.args[position]), 1)
    return objective.magnitude / (size * (objective.rms(position) or 1.0))


def _unjudgeable(objective, position, analytic, numeric, noise, kink, left_out):
    """Why an elementwise comparison cannot judge the argument, or "".

    An argument whose every element is at a kink has nothing compared; a numeric
    gradient that is NaN or infinite says nothing; and where the numeric
    estimate's own error bound is as large as the gradients it judges (the larger of
    their largest element and `_typical_gradient`), no wrong gradient could exceed the
    tolerance.
    """
    judged = ~left_out
    if judged.size and not judged.any() and kink.any():
        return (f"every element sits at a kink of the forward ({int(kink.sum())} of them): "
                "no gradient was compared (nudge_kinks=True moves them off the kinks)")
    bad = judged & ~np.isfinite(numeric)
    if bad.any():
        where = _index(np.flatnonzero(bad)[0], numeric.shape)
        return (f"the numeric gradient is {numeric[where]} at {where} (and "
                f"{int(bad.sum()) - 1} more): the forward returns NaN or inf when the "
                "argument moves by the step")
    total = (np.abs(analytic) + np.abs(numeric))[judged]
    reference = max(float(total.max()) if total.size else 0.0,
                    _typical_gradient(objective, position))
    loud = judged & (noise > reference)
    if loud.any():
        where = _index(np.flatnonzero(loud)[0], numeric.shape)
        return (f"the numeric gradient's error bound ({noise[where]:.2g} at {where}) is as "
                f"large as the gradients it judges ({reference:.2g}): the forward is too "
                "noisy or too rough at this input for any error to exceed the tolerance")
    return ""


def _on_a_jump(objective, position):
    """The row of an argument that sits on a jump of the forward (`Objective.jumps`)."""
    change = objective.jumps[position]
    return ArgumentResult(
        "", FAIL, "elementwise", hint=(
            f"{CANNOT_JUDGE}: it sits on a discontinuity of the forward (moving it by "
            f"{JITTER_ULPS} ulps changes L by {change:.3g}, where L's terms add up to "
            f"{objective.magnitude:.3g}, and moving it {JUMP_STRETCH} times as far changes L "
            "by about as much): finite differences cannot measure its gradient (values compared "
            "with ==, such as +-1 labels stored as floats, should not be checked: pass them "
            "as integers, or without requires_grad)"))


def _scaled(value, loss_scale):
    """An argument's values times the upstream gradient of a loss, or None (no loss)."""
    return None if loss_scale is None else loss_scale * value


def _index(flat_index, shape):
    """The index tuple of element `flat_index` of an array of `shape`."""
    return tuple(int(i) for i in np.unravel_index(int(flat_index), shape))


def _direction_error(objective, position, analytic, direction, tolerance, floor_fraction,
                     confirm=False):
    """(relative error along `direction`, numeric derivative) or (None, ...) at a kink;
    (0, None) for a direction that lies wholly on entries held fixed.

    With `confirm`, a failing estimate is measured again at steps `SHRINKS` times
    smaller: along a random direction of a large argument, the step moves many elements
    at once, and some of them may cross kinks (a ReLU's 0, an interpolation's cell
    boundary). Such crossings add an error that changes with the step, where a wrong
    gradient's error stays put; an estimate that moves by a good part of its
    disagreement is replaced by the one at the smaller step, and one still moving at the
    smallest is a kink.
    """
    direction = objective.restricted(position, direction)
    if direction is None:
        return 0.0, None
    error, found = _error_at_step(objective, position, analytic, direction, tolerance,
                                  floor_fraction)
    if not confirm or error is None or error <= tolerance:
        return error, found
    exact = dot(analytic.reshape(-1)[direction.span], direction.values)
    for shrink in SHRINKS:
        smaller, again = _error_at_step(objective, position, analytic, direction, tolerance,
                                        floor_fraction, shrink)
        if smaller is None:
            return None, again
        # Moved by a good part of the disagreement: a wrong gradient's estimates agree to
        # their rounding, far below the disagreement (its bound, which the comparison
        # uses, is for the sum of all of L's terms moving and is much larger).
        if abs(again.value - found.value) <= abs(exact - found.value) / 4:
            return error, found
        error, found = smaller, again
        if error <= tolerance:
            return error, found
    found.kink = True
    return None, found


# Steps, as fractions of the usual one, at which `_direction_error` measures a failing
# direction again: each crosses about 16 times fewer kinks, at 16 times the rounding
# noise (eps^(2/3) * 256 ~ 1e-8 of the derivative at the smaller in float64).
SHRINKS = (16, 256)


def _error_at_step(objective, position, analytic, direction, tolerance, floor_fraction,
                   shrink=1):
    """`_direction_error` at one step."""
    part = analytic.reshape(-1)[direction.span]
    exact = dot(part, direction.values)
    scale = abs_dot(part, direction.values)
    found = objective.derivative(position, direction,
                                 settled=_settled(exact, tolerance, floor_fraction * scale),
                                 shrink=shrink)
    if found.kink:
        return None, found
    floor = max(found.noise / tolerance, floor_fraction * scale, 1e-300)
    found.scale = max(abs(exact) + abs(found.value),
                      _typical_gradient(objective, position) * float(
                          np.abs(direction.values).sum()))
    error = abs(exact - found.value) / max(abs(exact) + abs(found.value), floor)
    return (error if np.isfinite(error) else np.inf), found


def _directional(objective, position, analytic, tolerance, floor_fraction, rng, directions,
                 loss_scale=None):
    errors, kinks, cause = [], 0, ""
    for _ in range(directions):
        for _attempt in range(3):
            error, found = _direction_error(objective, position, analytic,
                                            Direction.random(rng, 0, analytic.size),
                                            tolerance, floor_fraction, confirm=True)
            if error is not None:
                break
            kinks += 1
        if error is not None:
            errors.append(error)
            cause = cause or _unjudgeable_direction(found)
    errors = np.array(errors)
    failed = bool(errors.size) and errors.max() > tolerance
    result = ArgumentResult(
        "", FAIL if failed or cause or not errors.size else PASS,
        f"directional (k={directions})",
        float(errors.max()) if errors.size else float("nan"),
        float(np.median(errors)) if errors.size else float("nan"), kinks=kinks,
        held=0 if objective.fixed[position] is None else int(objective.fixed[position].sum()))
    if not errors.size:
        result.hint = "every direction tried crossed a kink"
    if cause:
        result.hint = f"{CANNOT_JUDGE}: {cause}"
    elif failed:
        _locate(objective, position, analytic, tolerance, floor_fraction, rng, result,
                loss_scale)
    return result


def _unjudgeable_direction(found):
    """Why a directional derivative cannot judge the argument (as `_unjudgeable`), or
    ""."""
    if found is None:
        return ""
    if not np.isfinite(found.value):
        return (f"the numeric derivative along a random direction is {found.value}: the "
                "forward returns NaN or inf when the argument moves by the step")
    if found.noise > found.scale:
        return (f"the numeric derivative's error bound along a random direction "
                f"({found.noise:.2g}) is as large as the derivatives it judges "
                f"({found.scale:.2g}): the forward is too noisy or too rough at this input "
                "for any error to exceed the tolerance")
    return ""


def _locate(objective, position, analytic, tolerance, floor_fraction, rng, result,
            loss_scale=None):
    """Bisect towards a wrong element, then compare it, its neighbours and a sample.

    The halves are contiguous spans of the flattened argument (so no index array is ever
    built), each probed along random signs; the worse one is followed while it fails.
    When neither half fails, the signs are drawn again (`BISECTION_TRIES` in all): the
    span they halve did fail, and a second draw tells an unlucky one from an error
    spread too thinly to resolve. Elements are reported by their index in the argument.
    """
    size, shape = analytic.size, analytic.shape
    start, stop = 0, size
    while stop - start > 1:
        middle = (start + stop + 1) // 2
        halves = [(start, middle), (middle, stop)]
        for _ in range(BISECTION_TRIES):
            found = [_direction_error(objective, position, analytic,
                                      Direction.random_signs(rng, low, high), tolerance,
                                      floor_fraction)[0] for low, high in halves]
            found = [-1.0 if e is None else e for e in found]
            best = int(np.argmax(found))
            if found[best] > tolerance:
                break
        else:
            break
        start, stop = halves[best]
    sample = {int(k) for k in rng.choice(size, min(SAMPLE, size), replace=False)}
    sample |= set(range(start, min(stop, start + 4)))
    indices = sorted(sample)
    numeric, noise, kink = [], [], []
    for k in indices:
        found = objective.derivative(position, Direction.element(k))
        numeric.append(found.value)
        noise.append(found.noise)
        kink.append(found.kink)
    picked = analytic.reshape(-1)[indices]
    numeric, kink = np.array(numeric), np.array(kink)
    errors = _relative_errors(picked, numeric, np.array(noise), floor_fraction, tolerance,
                              kink)
    order = np.argsort(errors)[::-1][:WORST_SHOWN]
    where = [_index(k, shape) for k in indices]
    result.worst = [(where[k], float(picked[k]), float(numeric[k]), float(errors[k]))
                    for k in order]
    value = _scaled(objective.args[position].reshape(-1)[indices], loss_scale)
    result.hint = hint(picked, numeric, errors > tolerance, value=value, where=where)


def _judge_precision(result, grad, grad64, objective, position, spread):
    """Compare the float32 gradient with the float64 run of the same backward.

    The comparison allows for rounding of two sizes: `PRECISION_ULPS` * eps32 * M / scale
    (perturbing an element by its own scale moves L by at most about M, the size of L's
    terms) and `SPREAD_FACTOR` times the measured `spread` of the backward under
    perturbations of a few ulps.
    """
    low = np.asarray(grad, dtype=np.float64)
    dtype = np.asarray(grad).dtype
    scale = objective.rms(position)
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
        for k, flat in enumerate(np.flatnonzero(result.at_kinks)):
            x.flat[flat] += (20 + 10 * k) * objective.step(position, Direction.element(flat))
            moved += 1
        nudged[position] = x
    return nudged, moved


def _layer_name(forward):
    return pair_name(forward)


def _snapshot(args, kwargs, names):
    """(array, shape, digest of its bytes, label) for every array the caller passed,
    dicts included: enough to tell a modification without a copy of each array."""
    found = []

    def walk(value, label):
        if isinstance(value, np.ndarray):
            found.append((value, value.shape, _digest(value), label))
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


def _digest(array):
    if array.dtype.hasobject:
        return hashlib.blake2b(repr(array.tolist()).encode()).digest()
    return hashlib.blake2b(np.ascontiguousarray(array).data).digest()


def _modified(originals):
    # Every array the pair is given is a copy; what reaches the caller's arrays anyway
    # does so through an object the checker passes as it is.
    return [f"the caller's {label} was modified during the check, through an object the "
            "checker passes as it is"
            for array, shape, digest, label in originals
            if array.shape != shape or _digest(array) != digest]
