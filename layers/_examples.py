"""Small helpers for the example-input builders that register layers for the checker."""

import numpy as np


def normal(rng, shape, dtype, scale=1.0, loc=0.0):
    """Normal draws in `dtype`; drawn in float64 so every dtype sees the same numbers."""
    return (loc + scale * rng.standard_normal(shape)).astype(dtype)


def away_from(rng, shape, dtype, kinks=(0.0,), margin=0.05, scale=1.0):
    """Normal draws in `dtype`, each at least `margin` from every point in `kinks`.

    Central differences straddle a kink when a value sits within a step of it; the margin
    is far larger than any step the checker takes.
    """
    values = scale * rng.standard_normal(shape)
    for kink in kinks:
        gap = values - kink
        close = np.abs(gap) < margin
        values = np.where(close, kink + np.where(gap < 0, -margin, margin) * 2, values)
    return values.astype(dtype)


def dims(rng, *ranges):
    """One size per (low, high) pair, each drawn from [low, high] inclusive."""
    return tuple(int(rng.integers(low, high + 1)) for low, high in ranges)
