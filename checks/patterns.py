"""Name the shape of a wrong gradient when it is obvious: a factor, a sign, a transpose...

Each test compares the analytic gradient `a` with the numeric one `n` (float64 arrays of
one shape) as a whole. `hint` returns the first pattern that fits, or "" when none does.
"""

import numpy as np

# A pattern must explain the gradient to this relative accuracy to be named.
FIT = 1e-3


def _close(a, b):
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-300)
    return float(np.max(np.abs(a - b))) <= FIT * scale if a.size else True


def hint(analytic, numeric, failing):
    """A one-line description of how `analytic` differs from `numeric`, or "".

    Parameters
    ----------
    analytic, numeric : ndarray of float64, one shape
    failing : ndarray of bool, that shape
        The elements whose error is above the tolerance.
    """
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if not failing.any():
        return ""
    if not a.any():
        return "the analytic gradient is all zero"
    if not n.any():
        return "the numeric gradient is all zero: the output does not depend on this argument"
    factor = float(np.vdot(a, n) / np.vdot(n, n))
    if _close(a, factor * n):
        if abs(factor + 1) < FIT:
            return "wrong sign: analytic = -1 x numeric"
        return f"analytic = {factor:.4g} x numeric"
    if a.ndim == 2 and a.shape[0] == a.shape[1] > 1 and _close(a.T, n):
        return "transposed: analytic.T matches numeric"
    wrong = int(failing.sum())
    nonzero_where_zero = int(np.sum((a != 0) & (n == 0) & failing))
    if nonzero_where_zero == wrong:
        return (f"analytic is nonzero at {wrong} elements where numeric is exactly 0: a mask "
                "or a routing (ReLU, max, dropout) is not applied")
    zero_where_nonzero = int(np.sum((a == 0) & (n != 0) & failing))
    if zero_where_nonzero == wrong:
        return f"analytic is 0 at {wrong} elements where numeric is not"
    if wrong <= 3 < a.size:
        where = ", ".join(str(tuple(int(i) for i in idx)) for idx in np.argwhere(failing))
        return f"only {wrong} of {a.size} elements wrong, at {where}"
    if a.ndim >= 2 and a.shape[0] > 1:
        error = a - n
        if _close(error, np.broadcast_to(error.mean(axis=0), error.shape)):
            return ("the error is the same for every example along axis 0: the part of the "
                    "gradient summed over the batch (a mean or sum term) is wrong")
    return ""
