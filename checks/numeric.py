"""Finite differences of a layer, reduced to a scalar, in float64.

A layer with outputs out_k and a random upstream gradient u_k is reduced to
L(args) = sum_k <u_k, out_k(args)>; its backward must return dL/d(arg). Along a direction
d of one argument x, the numeric derivative is the central difference

    D(h) = (L(x + h d) - L(x - h d)) / 2h,     error c h^2 + rounding ~ eps M / h

with M = sum_k |u_k * out_k| the size of the terms L adds up. The step is
h = eps^(1/3) * scale (about 6e-6 times the input's scale in float64), which balances the
two errors. A first estimate uses +-h only; when it does not settle the comparison, a
second step h/2 gives Richardson's extrapolation (4 D(h/2) - D(h)) / 3, an estimate of
the truncation error, and a test for kinks: at a point where L is not differentiable
(ReLU at 0, a tie of a max) the one-sided differences disagree by the same amount at
both steps, while at a smooth point their gap halves with the step.
"""

from dataclasses import dataclass

import numpy as np

from layers.contract import is_float_array

# One-sided differences whose gap exceeds this fraction of their size suggest a kink: the
# first estimate is then not trusted, and the second step decides.
KINK_RATIO = 0.1
# Halving the step: the one-sided gap halves at a smooth point (ratio 0.5) and stays put
# at a kink crossed at both steps (ratio 1); below SMOOTH_BELOW only the larger step
# crossed a kink, and D(h/2) is clean.
KINK_ABOVE, SMOOTH_BELOW = 0.7, 0.35
# Rounding noise of L is at least this many ulps of M (the outputs carry rounding from
# the layer's arithmetic), or what `Objective._spread` measures if that is larger.
ROUNDING_ULPS = 8


@dataclass
class Derivative:
    """A numeric directional derivative: its value, an error bound, and whether at a kink."""

    value: float
    noise: float
    kink: bool = False


class Objective:
    """L(args) = sum_k <u_k, out_k(args)> in float64, with one argument replaced at a time.

    Parameters
    ----------
    calls : checks.calling.FixedCalls
        The layer's forward, called with float64 copies of every floating-point argument.
    args : sequence
        The forward's positional arguments (never modified).
    kwargs : dict
    upstream : list of ndarray
        One upstream gradient per output.
    """

    def __init__(self, calls, args, kwargs, upstream):
        self.calls = calls
        self.args = [np.array(a, dtype=np.float64) if is_float_array(a) else a for a in args]
        self.kwargs = kwargs
        self.upstream = [np.asarray(u, dtype=np.float64) for u in upstream]
        self.evaluations = 0
        outputs = self.outputs(self.args)
        self.dtype = np.result_type(*outputs) if outputs else np.dtype(np.float64)
        self.eps = float(np.finfo(self.dtype if self.dtype.kind == "f" else np.float64).eps)
        self.base, self.magnitude = self._reduce(outputs)
        self.rounding = max(ROUNDING_ULPS * self.eps * max(self.magnitude, abs(self.base)),
                            self._spread())

    def outputs(self, args):
        result = self.calls(args, self.kwargs)
        self.evaluations += 1
        return [np.asarray(out) for out in result[:-1]]

    def _reduce(self, outputs):
        terms = [u * np.asarray(out, dtype=np.float64) for u, out in zip(self.upstream, outputs)]
        return (float(sum(np.sum(t) for t in terms)),
                float(sum(np.sum(np.abs(t)) for t in terms)))

    def _spread(self):
        """How much L moves when every input moves by a few ulps: its rounding noise.

        The estimate from M alone misses amplification inside the layer (a batch norm
        divides by a small standard deviation); this measures it. The inputs' own change
        moves L by about as much, which only makes the estimate safer.
        """
        rng = np.random.default_rng(0)
        spread = 0.0
        for _ in range(2):
            moved = [a * (1 + rng.choice([-4.0, 4.0], size=np.shape(a)) * self.eps)
                     if is_float_array(a) else a for a in self.args]
            spread = max(spread, abs(self._reduce(self.outputs(moved))[0] - self.base))
        return spread

    def at(self, position, value):
        """L with argument `position` replaced by `value`."""
        call = list(self.args)
        call[position] = value
        return self._reduce(self.outputs(call))[0]

    def step(self, x, index=None):
        """eps^(1/3) times the scale of x (of element `index`, or of the whole array)."""
        rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
        if index is None:
            scale = float(np.linalg.norm(x)) or 1.0
        else:
            scale = max(abs(float(x[index])), rms) or 1.0
        return self.eps ** (1 / 3) * scale

    def derivative(self, position, direction=None, index=None, settled=None):
        """Numeric derivative of L along `direction` (an array) or along element `index`.

        `settled(value, noise)` says whether the first estimate already decides the
        comparison; if it does not, a second step refines the estimate and tests for a
        kink.
        """
        x = self.args[position]
        if index is not None:
            h = self.step(x, index)

            def shifted(t):
                moved = x.copy()
                moved[index] += t
                return self.at(position, moved)
        else:
            h = self.step(x)

            def shifted(t):
                return self.at(position, x + t * direction)

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
