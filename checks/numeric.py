"""Finite differences of a layer, reduced to a scalar, in float64.

A layer with outputs out_k and a random upstream gradient u_k is reduced to
L(args) = sum_k <u_k, out_k(args)>; its backward must return dL/d(arg). Along a direction
d of one argument x, the numeric derivative is the central difference

    D(h) = (L(x + h d) - L(x - h d)) / 2h,     error c h^2 + rounding ~ eps M / h

with M = sum_k |u_k * out_k| the size of the terms L adds up. The step is
h = eps^(1/3) * scale (about 6e-6 times the scale of the elements moved, in float64),
which balances the two errors. A first estimate uses +-h only; when it does not settle
the comparison, a second step h/2 gives Richardson's extrapolation (4 D(h/2) - D(h)) / 3,
an estimate of the truncation error, and a test for kinks: at a point where L is not
differentiable (ReLU at 0, a tie of a max) the one-sided differences disagree by the same
amount at both steps, while at a smooth point their gap halves with the step.

A direction is a span of the flattened argument and unit-norm values on it
(`Direction`): the whole argument for a random direction, a half, a quarter, ... of it
when a wrong element is searched for by bisection, one element for an elementwise check.
Moving along it writes into the objective's own float64 copy of the argument (C-ordered,
so that its flattened view is the array itself, whatever the caller's layout) and puts
the old values back, so that no evaluation copies a large argument.

Inputs the central differences cannot use are handled by design, never passed:

- non-finite entries (-inf in a masked softmax's logits) are held fixed: directions are
  zero on them (`Objective.restricted`), no gradient is measured through them, and the
  step is scaled from the finite entries;
- an argument sitting on a jump of the forward (float +-1 labels of a hinge or cosine
  embedding loss, compared with ``== 1``) is found when the rounding noise is measured:
  moving it by a few ulps changes L by a sizeable fraction of M, and moving it 16 times
  as far changes it by about as much, where a slope would change it 16 times as much.
  Such an argument is named (`Objective.jumps`) and its noise is not allowed to excuse
  the others.
"""

from dataclasses import dataclass

import numpy as np

# One-sided differences whose gap exceeds this fraction of their size suggest a kink: the
# first estimate is then not trusted, and the second step decides. At a smooth point the
# ratio is about h |f''| / |f'|, of the order of the relative step eps^(1/3) ~ 6e-6; an
# element a distance r h from a ReLU kink gives (1 - r) / (1 + r), of order 1 for most
# r. 0.1 lies between the two, and a kink it misses leaves a first estimate that the
# settle test rejects unless it agrees with the analytic gradient anyway. Measured: at
# 0.01 the false-alarm sweep over 20 seeds
# (python benchmarks/bench_checker.py --only false-alarms --seeds 20) gives the same
# verdicts.
KINK_RATIO = 0.1
# Halving the step: the one-sided gap halves at a smooth point (ratio 0.5) and stays put
# at a kink crossed at both steps (ratio 1); below SMOOTH_BELOW only the larger step
# crossed a kink, and D(h/2) is clean. The thresholds are 0.5 * sqrt(2) and 0.5 / sqrt(2):
# a factor sqrt(2) either side of the smooth ratio, 0.7 being the geometric midpoint
# between it and the kink's 1.
KINK_ABOVE, SMOOTH_BELOW = 0.7, 0.35
# Rounding noise of L is at least this many ulps of M: every output carries the rounding
# of the few operations that made it, and L adds them up with weights u_k, so its
# rounding is a small multiple of eps M. What `rounding_spread` measures replaces this
# bound when it is larger (amplification inside the layer, a batch norm dividing by a
# small deviation). Measured with the false-alarm sweep over 20 seeds
# (python benchmarks/bench_checker.py --only false-alarms --seeds 20): at 2 a correct
# layer fails (naive_softmax_loss, float32), at 4 the closest pass comes to 0.87 of the
# tolerance, at 8 to 0.52; the planted-bug detection is the same at 8 and at 32.
ROUNDING_ULPS = 8
# Rounding spread: every floating-point input moves by this many ulps, up or down at
# random; a few ulps is the size of the rounding the input itself may carry.
JITTER_ULPS = 4
# An argument is on a jump when moving it by JITTER_ULPS ulps changes L by more than
# eps^(1/4) of M (1.2e-4 in float64; rounding, even amplified a millionfold, stays below
# 1e-9) and moving it JUMP_STRETCH times as far changes L by less than JUMP_STRETCH / 4
# times as much (a slope gives JUMP_STRETCH times, a jump the same change).
JUMP_STRETCH = 16
# Whole-array reductions run over blocks of this many elements, so that their
# temporaries stay small next to an argument of millions of elements.
BLOCK = 1 << 18


@dataclass
class Derivative:
    """A numeric directional derivative: its value, an error bound, and whether at a kink."""

    value: float
    noise: float
    kink: bool = False
    scale: float = 0.0  # the size of the derivatives it judges, set by the comparison


@dataclass
class Direction:
    """A unit vector that is zero outside one span of a flattened argument.

    Attributes
    ----------
    start : int
        First flat index of the span.
    values : ndarray of float64, shape (m,)
        The vector on the span, elements start .. start + m - 1; unit norm.
    """

    start: int
    values: np.ndarray

    @property
    def span(self):
        return slice(self.start, self.start + self.values.size)

    @classmethod
    def random(cls, rng, start, stop):
        """A random direction on flat indices start .. stop - 1 (normal, then normalized)."""
        values = rng.standard_normal(stop - start)
        values /= np.sqrt(dot(values, values))
        return cls(start, values)

    @classmethod
    def random_signs(cls, rng, start, stop):
        """+-1/sqrt(m) with random signs on flat indices start .. stop - 1 (m of them).

        Every element gets the same weight, so an error in any one element shows along
        it with the same size, never hidden by a small random coefficient.
        """
        size = stop - start
        positive = rng.integers(0, 2, size=size, dtype=np.uint8).astype(bool)
        weight = 1 / np.sqrt(size)
        return cls(start, np.where(positive, weight, -weight))

    @classmethod
    def element(cls, flat_index):
        return cls(int(flat_index), np.ones(1))


def blocks(size):
    """Slices of at most `BLOCK` elements covering range(size)."""
    return [slice(start, min(start + BLOCK, size)) for start in range(0, size, BLOCK)] or [
        slice(0, 0)]


def abs_dot(a, b):
    """sum |a * b| over the flattened arrays, in float64, block by block."""
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    return float(sum(np.abs(np.multiply(a[s], b[s], dtype=np.float64)).sum()
                     for s in blocks(a.size)))


def max_abs_difference(a, b, factor=1.0):
    """max |a - factor * b| over the flattened arrays, in float64, block by block (0 when
    empty)."""
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    return max(float(np.max(np.abs(a[s] - factor * b[s].astype(np.float64)), initial=0.0))
               for s in blocks(a.size))


def dot(a, b):
    """<a, b> over the flattened arrays, in float64.

    einsum's own loop rather than BLAS: a multithreaded BLAS dot on a busy machine can
    take many times longer than the forward it reduces.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    return float(np.einsum("i,i->", a, np.asarray(b, dtype=np.float64).reshape(-1)))


def jittered(value, rng, eps=None, ulps=JITTER_ULPS):
    """`value` with every element moved by `ulps` ulps, up or down at random.

    The ulp is `eps` (by default the dtype's own) times the element; the result keeps
    `value`'s dtype.
    """
    value = np.asarray(value)
    eps = float(np.finfo(value.dtype).eps) if eps is None else eps
    up = rng.integers(0, 2, size=value.shape, dtype=np.uint8).astype(bool)
    factor = np.where(up, 1 + ulps * eps, 1 - ulps * eps)
    factor *= value
    return factor.astype(value.dtype, copy=False)


def rounding_spread(evaluate, args, positions, base, rng, eps=None, draws=2):
    """How far a computation moves when its floating-point inputs move by a few ulps.

    The arguments at `positions` are `jittered` `draws` times; the largest change of each
    value `evaluate` returns, against `base`, estimates the rounding noise that
    computation carries, structural cancellation included (a bias before a batch norm has
    an exact gradient of 0 and a computed one of pure noise). The inputs' own change moves
    the values by about as much, which only makes the estimate safer.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(args) -> list`` of arrays or numbers, one per entry of `base`.
    args : sequence
        The arguments; those at `positions` are floating-point arrays.
    positions : list of int
    base : list
        `evaluate(args)` at the unmoved arguments.
    rng : np.random.Generator
    eps : float, optional
        The ulp for every argument; by default each argument's dtype's own.

    Returns
    -------
    list of float
        One spread per entry of `base`.
    """
    spread = [0.0] * len(base)
    for _ in range(draws):
        moved = list(args)
        for i in positions:
            moved[i] = jittered(args[i], rng, eps)
        for k, (known, value) in enumerate(zip(base, evaluate(moved))):
            spread[k] = max(spread[k], max_abs_difference(known, value))
    return spread


def _non_finite(array):
    """A flat mask of `array`'s non-finite entries, or None when all are finite."""
    finite = np.isfinite(array.reshape(-1))
    return None if finite.all() else ~finite


class Objective:
    """L(args) = sum_k <u_k, out_k(args)> in float64, one argument moved at a time.

    Parameters
    ----------
    calls : checks.fixed_randomness.FixedCalls
        The layer's forward, called with float64 copies of the differentiable arguments.
    args : sequence
        The forward's positional arguments (never modified).
    kwargs : dict
    upstream : list of ndarray
        One upstream gradient per output (shared when float64: never hand these arrays
        to a backward, which might write into them).
    positions : list of int
        The arguments that get a gradient; the objective holds float64 copies of them.
    """

    def __init__(self, calls, args, kwargs, upstream, positions):
        self.calls = calls
        self.positions = list(positions)
        self.args = list(args)
        for i in self.positions:
            self.args[i] = np.array(args[i], dtype=np.float64, order="C")
        self.kwargs = kwargs
        self.upstream = [np.asarray(u, dtype=np.float64) for u in upstream]
        self.evaluations = 0
        outputs = self.outputs(self.args)
        self.dtype = np.result_type(*outputs) if outputs else np.dtype(np.float64)
        self.eps = float(np.finfo(self.dtype if self.dtype.kind == "f" else np.float64).eps)
        self.base = self.loss(outputs)
        self.magnitude = float(sum(abs_dot(u, out) for u, out in zip(self.upstream, outputs)))
        del outputs
        self._rms = {}
        # Per argument: a mask of its non-finite entries (held fixed), or None.
        self.fixed = {i: _non_finite(self.args[i]) for i in self.positions}
        bound = ROUNDING_ULPS * self.eps * max(self.magnitude, abs(self.base))
        measured = self.spread(self.positions)
        # Per argument found on a jump: how much L changes when it moves by a few ulps.
        self.jumps = {}
        if measured > self.eps ** 0.25 * self.magnitude:
            self.jumps = self.find_jumps()
            if self.jumps:
                measured = self.spread([i for i in self.positions if i not in self.jumps])
        self.rounding = max(bound, measured)

    def spread(self, positions):
        """How far L moves when the arguments at `positions` move by a few ulps."""
        if not positions:
            return 0.0
        return rounding_spread(lambda moved: [self.loss(self.outputs(moved))], self.args,
                               positions, [self.base], np.random.default_rng(0),
                               eps=self.eps)[0]

    def find_jumps(self):
        """{position: change of L} for the arguments that sit on a jump of the forward
        (module docstring): each argument moved alone by a few ulps, then
        `JUMP_STRETCH` times as far along the same signs."""
        jumps = {}
        for i in self.positions:
            changes = []
            for ulps in (JITTER_ULPS, JUMP_STRETCH * JITTER_ULPS):
                moved = list(self.args)
                moved[i] = jittered(self.args[i], np.random.default_rng(1), self.eps, ulps)
                changes.append(abs(self.loss(self.outputs(moved)) - self.base))
            near, far = changes
            if near > self.eps ** 0.25 * self.magnitude and far < JUMP_STRETCH / 4 * near:
                jumps[i] = near
        return jumps

    def restricted(self, position, direction):
        """`direction` made zero on the argument's non-finite entries and renormalized;
        None when nothing is left of it."""
        fixed = self.fixed[position]
        if fixed is None:
            return direction
        values = np.where(fixed[direction.span], 0.0, direction.values)
        norm = np.sqrt(dot(values, values))
        return Direction(direction.start, values / norm) if norm > 0 else None

    def outputs(self, args):
        result = self.calls(args, self.kwargs)
        self.evaluations += 1
        return [np.asarray(out) for out in result[:-1]]

    def loss(self, outputs):
        """L for the forward's `outputs`."""
        return float(sum(dot(u, out) for u, out in zip(self.upstream, outputs)))

    def finite_part(self, position, span=slice(None)):
        """The flattened argument on `span`, its non-finite entries as 0."""
        part = self.args[position].reshape(-1)[span]
        fixed = self.fixed[position]
        return part if fixed is None else np.where(fixed[span], 0.0, part)

    def rms(self, position):
        """The root mean square of argument `position`'s finite entries (computed once)."""
        if position not in self._rms:
            flat = self.finite_part(position)
            fixed = self.fixed[position]
            count = flat.size - (0 if fixed is None else int(fixed.sum()))
            self._rms[position] = float(np.sqrt(dot(flat, flat) / count)) if count else 0.0
        return self._rms[position]

    def step(self, position, direction=None):
        """eps^(1/3) times the scale of the elements `direction` moves.

        The scale is the norm of the argument on the direction's span, and at least its
        root mean square times the square root of the span's length, so that elements
        near 0 take the step of a typical element; for the whole argument it is the
        argument's norm. Without a direction: the whole argument.
        """
        span = slice(None) if direction is None else direction.span
        part = self.finite_part(position, span)
        scale = max(np.sqrt(dot(part, part)), self.rms(position) * np.sqrt(part.size))
        return self.eps ** (1 / 3) * (scale or 1.0)

    def at(self, position, direction, t):
        """L with argument `position` moved by t times `direction` (then put back)."""
        flat = self.args[position].reshape(-1)
        span = direction.span
        saved = flat[span].copy()
        flat[span] += t * direction.values
        try:
            return self.loss(self.outputs(self.args))
        finally:
            flat[span] = saved

    def derivative(self, position, direction, settled=None, shrink=1):
        """Numeric derivative of L along `direction` (a `Direction`) of argument `position`.

        `settled(value, noise)` says whether the first estimate already decides the
        comparison; if it does not, a second step refines the estimate and tests for a
        kink. `shrink` divides the step (`step`).
        """
        h = self.step(position, direction) / shrink

        def shifted(t):
            return self.at(position, direction, t)

        plus, minus = shifted(h), shifted(-h)
        rounding = self.rounding / h
        coarse = (plus - minus) / (2 * h)
        gap = abs((plus - self.base) - (self.base - minus)) / h
        size = (abs(plus - self.base) + abs(self.base - minus)) / h
        smooth = gap <= KINK_RATIO * size + 2 * rounding
        if smooth and settled is not None and settled(coarse, rounding + gap):
            return Derivative(coarse, rounding + gap)

        half_plus, half_minus = shifted(h / 2), shifted(-h / 2)
        fine = (half_plus - half_minus) / h
        half_gap = abs((half_plus - self.base) - (self.base - half_minus)) / (h / 2)
        # The gap's own rounding at the half step is at most 8 * rounding. The first test
        # above can miss a kink (a tie in one max-pool window next to a clear win in an
        # overlapping one: a small jump on a large slope), so the step test decides.
        if half_gap > KINK_ABOVE * gap + 8 * rounding:
            return Derivative(fine, 4 * rounding, kink=True)
        if half_gap + 8 * rounding < SMOOTH_BELOW * gap:
            return Derivative(fine, 4 * rounding)
        return Derivative((4 * fine - coarse) / 3, 3 * rounding + abs(fine - coarse) / 3)
