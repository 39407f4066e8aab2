"""Name the shape of a wrong gradient when it is obvious: a factor, a sign, a transpose...

Each test compares the analytic gradient `a` with the numeric one `n` (float64 arrays of
one shape) as a whole. `hint` returns the first pattern that fits, or "" when none does.
"""

import numpy as np

# A pattern must explain the gradient to this relative accuracy to be named. The numeric
# gradient a pattern is fitted to is accurate to about the tolerance (1e-6 in float64),
# so a real pattern fits a thousand times better than this, while a chance fit to 1e-3
# across every element of an argument is out of the question.
FIT = 1e-3


def _close(a, b):
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-300)
    return float(np.max(np.abs(a - b))) <= FIT * scale if a.size else True


def hint(analytic, numeric, failing, value=None, where=None):
    """A one-line description of how `analytic` differs from `numeric`, or "".

    Parameters
    ----------
    analytic, numeric : ndarray of float64, one shape
    failing : ndarray of bool, that shape
        The elements whose error is above the tolerance.
    value : ndarray, that shape, optional
        For a loss: the argument's values at these elements times the loss's upstream
        gradient. An error proportional to them is a term like L2 regularization's
        ``reg * W`` missing or wrong, and the factor is -reg when it is missing.
    where : list of tuple, optional
        When the elements are a sample of a larger argument (1-D arrays here): the index
        of each in the argument, so that the hint names array indices. Patterns that need
        the argument's layout (a transpose, a batch axis) are then not tried.
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
    whole = where is None
    if whole and a.ndim == 2 and a.shape[0] == a.shape[1] > 1 and _close(a.T, n):
        return "transposed: analytic.T matches numeric"
    error = a - n
    if value is not None:
        v = np.asarray(value, dtype=np.float64)
        if v.shape == a.shape and a.size > 2 and v.any():
            c = float(np.vdot(error, v) / np.vdot(v, v))
            if abs(c) > 0 and _close(error, c * v):
                return (f"analytic - numeric = {c:.4g} x the argument itself: a term "
                        "proportional to it is missing or wrong, such as an L2 "
                        "regularization gradient reg * W")
    wrong = int(failing.sum())
    nonzero_where_zero = int(np.sum((a != 0) & (n == 0) & failing))
    if nonzero_where_zero == wrong:
        return (f"analytic is nonzero at {wrong} elements where numeric is exactly 0: a mask "
                "or a routing (ReLU, max, dropout) is not applied")
    zero_where_nonzero = int(np.sum((a == 0) & (n != 0) & failing))
    if zero_where_nonzero == wrong:
        return f"analytic is 0 at {wrong} elements where numeric is not"
    if wrong <= 3 < a.size:
        if whole:
            at = [tuple(int(i) for i in idx) for idx in np.argwhere(failing)]
            return f"only {wrong} of {a.size} elements wrong, at {', '.join(map(str, at))}"
        at = [where[k] for k in np.flatnonzero(failing)]
        return (f"only {wrong} of the {a.size} elements compared one by one wrong, at "
                f"{', '.join(map(str, at))}")
    if whole and a.ndim >= 2 and a.shape[0] > 1:
        if _close(error, np.broadcast_to(error.mean(axis=0), error.shape)):
            return ("the error is the same for every example along axis 0: the part of the "
                    "gradient summed over the batch (a mean or sum term) is wrong")
    return ""
