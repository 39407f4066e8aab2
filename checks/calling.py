"""Call a user's forward the same way every time the checker needs it.

Two things could make repeated calls of one forward at one input differ, and neither
is the layer's gradient's fault:

- a parameter dict that the forward updates (running statistics): every call gets its
  own copies of the dicts, so the updates neither pile up nor reach the caller's dict;
- randomness drawn from NumPy's global RNG (``np.random.rand`` in a hand-written
  dropout): as Caffe's checker does, the global state is put back to the same point
  before every call, so every evaluation draws the same mask. The caller's global state
  is restored when the check ends. A layer drawing from a fresh ``default_rng()`` has no
  state to fix and is reported as not deterministic.
"""

import numpy as np


def fresh(value):
    """A copy of `value` if it is a (parameter) dict; arrays inside are shared, not copied."""
    if isinstance(value, dict):
        return {k: fresh(v) for k, v in value.items()}
    return value


class FixedCalls:
    """``calls(args, kwargs)`` runs ``forward(*args, **kwargs)`` with fixed randomness.

    Use as a context manager, so that NumPy's global random state is restored after::

        with FixedCalls(forward) as calls:
            out, cache = calls(args, kwargs)
    """

    def __init__(self, forward):
        self.forward = forward
        self.state = None

    def __enter__(self):
        self.state = np.random.get_state()
        return self

    def __exit__(self, *exc_info):
        np.random.set_state(self.state)
        return False

    def __call__(self, args, kwargs):
        np.random.set_state(self.state)
        return self.forward(*[fresh(a) for a in args], **fresh(kwargs))
