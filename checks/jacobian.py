"""Full Jacobians of small layers, numeric and analytic, in Jacobian form.

For out = f(x) with out of size m and x of size n, the Jacobian is the m x n matrix
J[i, j] = d out_i / d x_j (both flattened in row-major order). The analytic one is read
off a backward function one row at a time: feeding the basis vector e_i as the upstream
gradient makes backward return row i, e_i^T J, in the shape of x.
"""

import numpy as np

from layers.contract import gradient_positions

from .fixed_randomness import FixedCalls


def jacobian(fn, x, h=None):
    """Numeric Jacobian of `fn` at `x` by central differences, in float64.

    Parameters
    ----------
    fn : callable
        ``fn(x) -> ndarray`` (or a scalar), for x of the shape of `x`.
    x : ndarray of floats, shape (d_1, ..., d_k); never modified
    h : float, optional
        Step; by default ``eps^(1/3) * max(1, |x_j|)`` per element.

    Returns
    -------
    J : ndarray of float64, shape (m, n), m = fn(x).size, n = x.size

    Examples
    --------
    >>> jacobian(lambda v: 3 * v, np.array([1.0, 2.0]))     # doctest: +SKIP
    array([[3., 0.],
           [0., 3.]])
    """
    point = np.array(x, dtype=np.float64)
    flat = point.reshape(-1)
    columns = []
    for j in range(flat.size):
        original = flat[j]
        step = h if h is not None else np.finfo(np.float64).eps ** (1 / 3) * max(
            1.0, abs(original))
        flat[j] = original + step
        plus = np.array(fn(point), dtype=np.float64).reshape(-1)
        flat[j] = original - step
        minus = np.array(fn(point), dtype=np.float64).reshape(-1)
        flat[j] = original
        columns.append((plus - minus) / (2 * step))
    return np.stack(columns, axis=1)


def analytic_jacobian(forward, backward, *args, wrt=0, output=0, **kwargs):
    """The Jacobian of one output of a layer with respect to one argument, from backward.

    Parameters
    ----------
    forward, backward : callable
        A layer pair under the layer contract.
    *args, **kwargs
        The forward's arguments (never modified; parameter dicts are copied).
    wrt : int
        Position in `args` of the floating-point argument to differentiate by.
    output : int
        Which output, for layers with several (the others get a zero upstream gradient).

    Returns
    -------
    J : ndarray of float64, shape (m, n): m the output's size, n the argument's size.
    """
    differentiable = gradient_positions(forward, args)
    if wrt not in differentiable:
        raise ValueError(f"analytic_jacobian: wrt={wrt} is not a floating-point array "
                         f"argument; those are at positions {differentiable}")
    with FixedCalls(forward) as calls:   # the caller's parameter dicts stay untouched
        result = calls(args, kwargs)
    outputs, cache = [np.asarray(o) for o in result[:-1]], result[-1]
    if not 0 <= output < len(outputs):
        raise ValueError(f"analytic_jacobian: output={output} is out of range; the forward "
                         f"returns {len(outputs)} output{'s' * (len(outputs) != 1)}")
    rows = []
    for i in range(outputs[output].size):
        upstream = [np.zeros_like(o) for o in outputs]
        upstream[output].reshape(-1)[i] = 1
        grads = backward(*upstream, cache)
        grad = grads if len(differentiable) == 1 else grads[differentiable.index(wrt)]
        rows.append(np.asarray(grad, dtype=np.float64).reshape(-1))
    return np.stack(rows, axis=0)
