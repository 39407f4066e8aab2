"""Call a user's forward the same way every time the checker needs it.

Two things could make repeated calls of one forward at one input differ, and neither
is the layer's gradient's fault:

- a parameter dict that the forward updates (running statistics): every call gets its
  own copies of the dicts, so the updates neither pile up nor reach the caller's dict;
- randomness drawn from NumPy's global RNG (``np.random.rand`` in a hand-written
  dropout): as Caffe's checker does, every call starts from the same global state, so
  every evaluation draws the same mask. A layer drawing from a fresh ``default_rng()``
  has no state to fix and is reported as not deterministic.

NumPy's global state is one for the whole process, so checks running in several threads
at once would otherwise set it under each other's calls. Every seeded call therefore
holds one process-wide lock from setting the state to putting back the state it found,
and between calls the global state is always the caller's: concurrent checks give the
verdicts of serial ones and leave the state as they found it. Reading and setting the
state costs more than a small layer's forward, so the first call finds out whether the
forward draws from the global RNG at all (whether the state moved), and the calls of a
forward that does not run without the lock and without touching the state.
"""

import threading

import numpy as np

# Reentrant: a forward may itself run a check (a graph checked inside a layer).
_GLOBAL_STATE = threading.RLock()


def fresh(value):
    """A copy of `value` if it is a (parameter) dict; arrays inside are shared, not copied."""
    if isinstance(value, dict):
        return {k: fresh(v) for k, v in value.items()}
    return value


class FixedCalls:
    """``calls(args, kwargs)`` runs ``forward(*args, **kwargs)`` with fixed randomness.

    Every call starts from NumPy's global random state as it was when the context was
    entered, and puts back the state it found when it returns::

        with FixedCalls(forward) as calls:
            out, cache = calls(args, kwargs)
    """

    def __init__(self, forward):
        self.forward = forward
        self.state = None
        self.draws = None  # whether the forward draws from the global RNG; known after a call

    def __enter__(self):
        with _GLOBAL_STATE:
            self.state = np.random.get_state()
        return self

    def __exit__(self, *exc_info):
        return False

    def __call__(self, args, kwargs):
        if self.draws is False:
            return self.forward(*[fresh(a) for a in args], **fresh(kwargs))
        with _GLOBAL_STATE:
            found = np.random.get_state()
            np.random.set_state(self.state)
            try:
                result = self.forward(*[fresh(a) for a in args], **fresh(kwargs))
                if self.draws is None:
                    self.draws = not _same_state(np.random.get_state(), self.state)
                return result
            finally:
                np.random.set_state(found)


def _same_state(one, other):
    """Whether two states of ``np.random.get_state()`` are equal."""
    return (one[0] == other[0] and np.array_equal(one[1], other[1])
            and tuple(one[2:]) == tuple(other[2:]))
