"""CS231n-compatible numeric-gradient helpers, so that CS231n notebooks run unchanged.

They perturb `x` in place, as CS231n's do, because CS231n code passes closures that read
the very array being perturbed (``lambda _: model.loss(X, y)[0]``). Unlike CS231n's, they
restore `x` in a ``finally`` block: `x` is never left modified, even when `f` raises.
"""

import numpy as np

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array",
           "eval_numerical_gradient_blobs", "eval_numerical_gradient_net", "grad_check_sparse",
           "rel_error"]


def rel_error(x, y):
    """``max |x - y| / max(1e-8, |x| + |y|)``, elementwise, as in CS231n.

    Unlike CS231n's, arrays of different shapes are refused rather than broadcast: a
    (3, 1) against a (3,) would otherwise compare every pair and hide a shape bug.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: x and y must have the same shape; got x.shape = "
                         f"{x.shape} and y.shape = {y.shape}")
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _perturbed(f, x, index, h):
    """(f(x with x[index] + h), f(x with x[index] - h)), restoring x[index] afterwards."""
    original = x[index]
    try:
        x[index] = original + h
        plus = f(x)
        x[index] = original - h
        minus = f(x)
    finally:
        x[index] = original
    return plus, minus


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numeric gradient of a scalar function by central differences.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray of floats, any shape
        Point at which to evaluate the gradient; restored after every perturbation.
    verbose : bool
        Print each index and its numeric gradient, as CS231n does.
    h : float
        Step of the central difference.

    Returns
    -------
    grad : ndarray of float64, the shape of x
    """
    grad = np.zeros(np.shape(x), dtype=np.float64)
    for index in np.ndindex(*np.shape(x)):
        plus, minus = _perturbed(f, x, index, h)
        grad[index] = (plus - minus) / (2 * h)
        if verbose:
            print(index, grad[index])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of <df, f(x)> for an array-valued function.

    Parameters
    ----------
    f : callable
        ``f(x) -> ndarray``, of the shape of `df`.
    x : ndarray of floats, any shape
    df : ndarray, the upstream gradient, shape of f(x)
    h : float

    Returns
    -------
    grad : ndarray of float64, the shape of x
    """
    grad = np.zeros(np.shape(x), dtype=np.float64)
    for index in np.ndindex(*np.shape(x)):
        plus, minus = _perturbed(lambda v: np.array(f(v), dtype=np.float64), x, index, h)
        grad[index] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def eval_numerical_gradient_blobs(f, inputs, output, h=1e-5):
    """Numeric gradients of <output.diffs, output.vals> for a function on blobs, as in
    CS231n.

    A blob is any object with two arrays of one shape: ``vals`` (its value) and
    ``diffs`` (its gradient). ``f(*inputs, output)`` reads the inputs' ``vals`` and writes
    its result into ``output.vals``; ``output.diffs`` is the upstream gradient.

    Parameters
    ----------
    f : callable
        ``f(*inputs, output)``, writing into ``output.vals``; its return value is ignored.
    inputs : tuple of blobs
        Each one's ``vals`` (a float array) is perturbed in place and restored.
    output : blob
        Its ``vals`` receive f's result; its ``diffs`` are the upstream gradient.
    h : float

    Returns
    -------
    grads : list of ndarray of float64, one per input, each the shape of its ``vals``
    """
    def evaluate(_):
        f(*inputs, output)
        # A copy: the next call writes over output.vals.
        return np.array(output.vals, dtype=np.float64)

    grads = []
    for blob in inputs:
        grad = np.zeros(np.shape(blob.vals), dtype=np.float64)
        for index in np.ndindex(*grad.shape):
            plus, minus = _perturbed(evaluate, blob.vals, index, h)
            grad[index] = np.sum((plus - minus) * output.diffs) / (2 * h)
        grads.append(grad)
    return grads


def eval_numerical_gradient_net(net, inputs, output, h=1e-5):
    """`eval_numerical_gradient_blobs` for a net of blobs, as in CS231n: ``net.forward()``
    (no arguments) reads the input blobs' ``vals`` and writes ``output.vals``.

    Parameters
    ----------
    net : object with a ``forward()`` method
    inputs : tuple of blobs, perturbed in place and restored
    output : blob written by ``net.forward()``, with the upstream gradient in ``diffs``
    h : float

    Returns
    -------
    grads : list of ndarray of float64, one per input, each the shape of its ``vals``
    """
    return eval_numerical_gradient_blobs(lambda *blobs: net.forward(), inputs, output, h=h)


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None):
    """Compare `analytic_grad` with central differences at `num_checks` random elements.

    Prints one line per element as CS231n does, and returns the relative errors.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray of floats
    analytic_grad : ndarray, the shape of x
    num_checks : int
    h : float
    seed : int or np.random.Generator, optional
        Chooses the elements; the global NumPy RNG is never touched.

    Returns
    -------
    errors : list of float
    """
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        index = tuple(int(rng.integers(size)) for size in np.shape(x))
        plus, minus = _perturbed(f, x, index, h)
        numeric = (plus - minus) / (2 * h)
        analytic = float(analytic_grad[index])
        error = abs(numeric - analytic) / max(abs(numeric) + abs(analytic), 1e-300)
        errors.append(error)
        print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {error:e}")
    return errors
