"""Losses as layer pairs, plus CS231n's fused forms ``name(x, y) -> (loss, dx)``.

Every loss returns a NumPy scalar of x's dtype; its backward takes the upstream gradient
``dloss`` (a scalar, 1.0 at the end of a network) and scales every gradient by it.

- softmax cross-entropy on logits, mean over the N examples:
  L = -(1/N) sum_n log softmax(x_n)[y_n], computed with log-sum-exp;
  dx = (softmax(x) - onehot(y)) / N.
- multiclass SVM hinge (CS231n, margin 1), mean over the N examples:
  L = (1/N) sum_n sum_{c != y_n} max(0, x_nc - x_n,y_n + 1); dx_nc = 1/N for every
  positive margin, and x_n,y_n gets -1/N per positive margin of its row.
- sigmoid binary cross-entropy on logits, mean over ALL elements of x:
  l = -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))) = max(x, 0) - x y + log1p(exp(-|x|));
  dl/dx = sigmoid(x) - y, dl/dy = -x.
- mean squared error, mean over ALL elements: l = (x - y)^2, dl/dx = 2 (x - y) = -dl/dy.

What every loss refuses (ValueError): an empty batch (the mean over N = 0 examples is
undefined), and NaN or +inf anywhere in its floating arguments, named with the first such
position: a NaN or infinite loss would silently stop training. -inf is refused too, except
as a score of the softmax losses (here and `temporal_softmax_loss`), where it is a class
of probability 0, the way a mask removes a class: the loss is then +inf only where the
correct class has that score, and the gradient stays finite. A row with no finite score
has no softmax and is refused.
"""

import math

import numpy as np

from ._examples import away_from, dims, normal
from ._numerics import sigmoid, softplus
from .args import FLOAT_DTYPES
from .contract import (Args, backward_of, describe, differentiable, is_float_array,
                       named_as_called)
from .registry import register

__all__ = [
    "softmax_loss_forward", "softmax_loss_backward", "softmax_loss",
    "svm_loss_forward", "svm_loss_backward", "svm_loss",
    "sigmoid_cross_entropy_loss_forward", "sigmoid_cross_entropy_loss_backward",
    "sigmoid_cross_entropy_loss",
    "mse_loss_forward", "mse_loss_backward", "mse_loss",
]


# -- softmax cross-entropy ----------------------------------------------------------------

# Bytes of scores per block of `softmax_terms`' passes: a block that stays in a core's
# cache between the subtraction, the exp and the sum (benchmarks/bench_softmax_choices.py).
SOFTMAX_BLOCK_BYTES = 512 * 1024


@differentiable("x")
def softmax_loss_forward(x, y):
    """Softmax cross-entropy on logits, averaged over the batch.

    Parameters
    ----------
    x : ndarray of shape (N, C), float32 or float64, N >= 1
        Scores (logits): x[n, c] for example n and class c. NaN and +inf are refused
        (ValueError); -inf is a class of probability 0.
    y : integer ndarray of shape (N,)
        The correct class of each example, 0 <= y[n] < C.

    Returns
    -------
    loss : NumPy scalar of x's dtype
        -(1/N) sum_n log softmax(x[n])[y[n]], computed as log-softmax (log-sum-exp), so it
        stays finite for finite logits of any size; +inf where a correct class has a
        score of -inf.
    cache : for `softmax_loss_backward`

    Examples
    --------
    >>> softmax_loss_forward(np.zeros((2, 4)), np.array([0, 3]))[0]  # log 4
    np.float64(1.3862943611198906)
    """
    check = Args()
    x, y = _scores_and_labels(check, x, y)
    exps, sums, losses = softmax_terms(check, x, y)
    return x.dtype.type(np.mean(losses)), (exps, sums, y)


@backward_of(softmax_loss_forward)
def softmax_loss_backward(dloss, cache):
    """Backward pass of `softmax_loss_forward`.

    Parameters
    ----------
    dloss : float or 0-d array, upstream gradient of the loss
    cache : from `softmax_loss_forward`

    Returns
    -------
    dx : ndarray of shape (N, C), dloss * (softmax(x) - onehot(y)) / N
    """
    exps, sums, y = cache
    scale = dloss / exps.shape[0]
    # softmax(x) = exps / sums, scaled in the same pass; a new array, as the cache may
    # serve another backward.
    dx = exps * (scale / sums)[:, None]
    dx[np.arange(exps.shape[0]), y] -= scale
    return dx


@named_as_called
def softmax_loss(x, y):
    """CS231n's fused softmax loss: ``(loss, dx)`` from `softmax_loss_forward`/`_backward`.

    Parameters
    ----------
    x : ndarray of shape (N, C), float32 or float64, scores (logits)
    y : integer ndarray of shape (N,), correct classes in [0, C)

    Returns
    -------
    loss : NumPy scalar of x's dtype, averaged over the N examples
    dx : ndarray of shape (N, C), the gradient of loss with respect to x
    """
    if type(x) is not np.ndarray or x.dtype not in FLOAT_DTYPES:
        # The pair's contract converts such an x, or refuses it by this function's name.
        return _fused(softmax_loss_forward, softmax_loss_backward, x, y)
    # The pair's results, bit for bit, with the pair's checks and messages (under this
    # function's name, `named_as_called`), but with the gradient made in the exps array
    # itself, block by block while each block is in cache: nothing else holds that array
    # here, so no second array and no second pass over memory (benchmarks/README.md,
    # "Softmax loss: fewer passes").
    check = Args()
    x, y = _scores_and_labels(check, x, y)
    scale = x.dtype.type(1.0) / x.shape[0]
    dx, _, losses = softmax_terms(check, x, y, gradient_scale=scale)
    dx[np.arange(x.shape[0]), y] -= scale
    return x.dtype.type(np.mean(losses)), dx


# -- multiclass SVM -----------------------------------------------------------------------

@differentiable("x")
def svm_loss_forward(x, y):
    """Multiclass SVM (hinge) loss with margin 1, averaged over the batch, as in CS231n.

    Parameters
    ----------
    x : ndarray of shape (N, C), float32 or float64
        Scores: x[n, c] for example n and class c.
    y : integer ndarray of shape (N,)
        The correct class of each example, 0 <= y[n] < C.

    Returns
    -------
    loss : NumPy scalar of x's dtype
        (1/N) sum_n sum_{c != y[n]} max(0, x[n, c] - x[n, y[n]] + 1): summed over the
        wrong classes, averaged over the examples. (PyTorch's ``multi_margin_loss`` also
        divides by C.) At a margin of exactly 0 the gradient taken is 0.
    cache : for `svm_loss_backward`

    Examples
    --------
    >>> svm_loss_forward(np.array([[3.0, 1.0, 2.5]]), np.array([0]))[0]  # 0 + 0.5
    np.float64(0.5)
    """
    check = Args()
    x, y = _scores_and_labels(check, x, y)
    check.finite("x", x)
    rows = np.arange(x.shape[0])
    margins = np.maximum(0, x - x[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / x.shape[0]
    return x.dtype.type(loss), (margins > 0, y, x.dtype)


@backward_of(svm_loss_forward)
def svm_loss_backward(dloss, cache):
    """Backward pass of `svm_loss_forward`.

    Parameters
    ----------
    dloss : float or 0-d array, upstream gradient of the loss
    cache : from `svm_loss_forward`

    Returns
    -------
    dx : ndarray of shape (N, C); dloss / N at each positive margin, and minus dloss / N
        times the number of positive margins of the row at the correct class.
    """
    positive, y, dtype = cache
    dx = positive.astype(dtype)
    dx[np.arange(dx.shape[0]), y] -= dx.sum(axis=1)
    return dx * (dloss / dx.shape[0])


@named_as_called
def svm_loss(x, y):
    """CS231n's fused SVM loss: ``(loss, dx)`` from `svm_loss_forward`/`_backward`.

    Parameters
    ----------
    x : ndarray of shape (N, C), float32 or float64, scores
    y : integer ndarray of shape (N,), correct classes in [0, C)

    Returns
    -------
    loss : NumPy scalar of x's dtype, averaged over the N examples
    dx : ndarray of shape (N, C), the gradient of loss with respect to x
    """
    return _fused(svm_loss_forward, svm_loss_backward, x, y)


# -- sigmoid binary cross-entropy ---------------------------------------------------------

@differentiable("x")
def sigmoid_cross_entropy_loss_forward(x, y):
    """Binary cross-entropy of sigmoid(x) against y, on logits, averaged over all elements.

    Parameters
    ----------
    x : ndarray of shape (N, ...), float32 or float64
        Logits: (N,) for one binary output per example, (N, K) for K independent ones.
    y : ndarray of x's shape
        Either labels, an integer or boolean array of 0s and 1s, or soft targets, a
        floating array with values in [0, 1] (used in x's dtype). Targets are data: they
        get no gradient, whatever their dtype.

    Returns
    -------
    loss : NumPy scalar of x's dtype
        mean over all elements of ``max(x, 0) - x * y + log1p(exp(-|x|))``, which equals
        -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))) without ever overflowing.
        For x of shape (N,) that is the mean over the batch; PyTorch's
        ``binary_cross_entropy_with_logits`` averages the same way.
    cache : for `sigmoid_cross_entropy_loss_backward`

    Examples
    --------
    >>> sigmoid_cross_entropy_loss_forward(np.zeros(3), np.array([0, 1, 1]))[0]  # log 2
    np.float64(0.6931471805599453)
    """
    check = Args()
    x, y, soft = _predictions_and_targets(check, x, y, labels_ok=True)
    if soft and np.any((y < 0) | (y > 1)):
        raise check.error(f"y, as floating targets, must hold values in [0, 1]; got values "
                          f"from {y.min()} to {y.max()}")
    loss = np.mean(softplus(x) - x * y)
    return x.dtype.type(loss), (x, y, soft)


@backward_of(sigmoid_cross_entropy_loss_forward)
def sigmoid_cross_entropy_loss_backward(dloss, cache):
    """Backward pass of `sigmoid_cross_entropy_loss_forward`.

    Parameters
    ----------
    dloss : float or 0-d array, upstream gradient of the loss
    cache : from `sigmoid_cross_entropy_loss_forward`

    Returns
    -------
    dx : ndarray of x's shape, dloss * (sigmoid(x) - y) / x.size
    """
    x, y, _ = cache
    scale = dloss / x.size
    return (sigmoid(x) - y) * scale


@named_as_called
def sigmoid_cross_entropy_loss(x, y):
    """Fused sigmoid cross-entropy: ``(loss, dx)`` from the pair.

    Parameters
    ----------
    x : ndarray of shape (N, ...), float32 or float64, logits
    y : ndarray of x's shape: 0/1 labels (integer or bool) or floating targets in [0, 1]

    Returns
    -------
    loss : NumPy scalar of x's dtype, averaged over all elements of x
    dx : ndarray of x's shape, the gradient of loss with respect to x
    """
    return _fused(sigmoid_cross_entropy_loss_forward, sigmoid_cross_entropy_loss_backward,
                  x, y)


# -- mean squared error -------------------------------------------------------------------

@differentiable("x", "y")
def mse_loss_forward(x, y):
    """Mean squared error, averaged over all elements (PyTorch's default ``mse_loss``).

    Parameters
    ----------
    x : ndarray of shape (N, ...), float32 or float64, predictions
    y : ndarray of x's shape and dtype, targets (they get a gradient too)

    Returns
    -------
    loss : NumPy scalar of x's dtype, mean over all elements of (x - y)^2 (no factor 1/2)
    cache : for `mse_loss_backward`

    Examples
    --------
    >>> mse_loss_forward(np.array([1.0, 2.0]), np.array([0.0, 4.0]))[0]  # (1 + 4) / 2
    np.float64(2.5)
    """
    check = Args()
    x, y, _ = _predictions_and_targets(check, x, y, labels_ok=False)
    diff = x - y
    return x.dtype.type(np.mean(diff * diff)), diff


@backward_of(mse_loss_forward)
def mse_loss_backward(dloss, cache):
    """Backward pass of `mse_loss_forward`.

    Parameters
    ----------
    dloss : float or 0-d array, upstream gradient of the loss
    cache : from `mse_loss_forward`

    Returns
    -------
    dx : ndarray of x's shape, dloss * 2 (x - y) / x.size
    dy : ndarray of x's shape, -dx
    """
    diff = cache
    dx = diff * (2 * dloss / diff.size)
    return dx, -dx


@named_as_called
def mse_loss(x, y):
    """Fused mean squared error: ``(loss, dx)`` from the pair (dy is dropped).

    Parameters
    ----------
    x : ndarray of shape (N, ...), float32 or float64, predictions
    y : ndarray of x's shape and dtype, targets

    Returns
    -------
    loss : NumPy scalar of x's dtype, averaged over all elements of x
    dx : ndarray of x's shape, the gradient of loss with respect to x
    """
    return _fused(mse_loss_forward, mse_loss_backward, x, y)


# -- shared -------------------------------------------------------------------------------

def _fused(forward, backward, x, y):
    """CS231n's ``(loss, dx)``: the pair run with dloss = 1; only x's gradient is kept."""
    loss, cache = forward(x, y)
    grads = backward(1.0, cache)
    return loss, grads[0] if isinstance(grads, tuple) else grads


def softmax_terms(check, x, y, gradient_scale=None):
    """The pieces of softmax cross-entropy over x's last axis, with exp taken once.

    Parameters
    ----------
    x : float ndarray of shape (..., C), scores
    y : integer ndarray of shape x.shape[:-1], labels in [0, C)
    gradient_scale : scalar of x's dtype, optional
        When given, exps comes back already turned into (exps / sums) * gradient_scale,
        the softmax scaled as the gradient needs it (without the -gradient_scale at the
        labels, which is the caller's), block by block while each block is in cache.

    Returns
    -------
    exps : new ndarray of x's shape, exp(x - shift) with one shift per row (which the
        backward's softmax exps / sums reuses)
    sums : ndarray of shape x.shape[:-1], exps summed over the last axis
    losses : ndarray of shape x.shape[:-1], -log softmax(x)[y]

    The shift of a row is its max, so that exp is only taken of numbers <= 0, one of them
    0, and the sum is >= 1; or 0 where the max already lies in [0, `_unshifted_limit`]:
    there exp(x) cannot overflow, alone or summed, its sum is >= 1 too, and the subtraction
    is a pass saved. NaN, +inf and rows with no finite score are refused (`softmax_row_max`).
    """
    row_max = softmax_row_max(check, x, axis=-1)
    classes = x.shape[-1]
    shift = np.where((row_max >= 0) & (row_max <= _unshifted_limit(x.dtype, classes)), 0,
                     row_max)
    rows_x = x.reshape(-1, classes)
    rows_shift = shift.reshape(-1, 1)
    exps = np.empty(rows_x.shape, x.dtype)
    sums = np.empty(len(exps), x.dtype)
    # Each pass over a block that fits the core's cache, rather than each pass over the
    # whole array: the exp, the sum and the scaling then read the block from cache.
    step = max(1, SOFTMAX_BLOCK_BYTES // (classes * x.itemsize))
    with np.errstate(over="ignore", under="ignore"):
        for start in range(0, len(exps), step):
            block = exps[start:start + step]
            block_shift = rows_shift[start:start + step]
            if block_shift.any():
                np.subtract(rows_x[start:start + step], block_shift, out=block)
                np.exp(block, out=block)
            else:
                np.exp(rows_x[start:start + step], out=block)
            block_sums = np.einsum("nc->n", block, out=sums[start:start + step])
            if gradient_scale is not None:
                np.multiply(block, (gradient_scale / block_sums)[:, None], out=block)
        sums = sums.reshape(x.shape[:-1])
        # -log softmax(x)[y] = log(sum of exp(x - max)) - (x - max)[y]. The sum of
        # exp(x - max), sums * exp(shift - max), lies in [1, C], so that its log is as
        # exact as with the max shifted out of every score.
        correct = np.take_along_axis(x, y[..., None], axis=-1)[..., 0] - row_max[..., 0]
        losses = np.log(sums * np.exp(shift - row_max)[..., 0]) - correct
    return exps.reshape(x.shape), sums, losses


def _unshifted_limit(dtype, classes):
    """The largest row max at which a row of `classes` scores needs no shift: the sum of
    their exps stays finite, and exp(-max) normal (1 below both, for their rounding)."""
    info = np.finfo(dtype)
    # A Python float, which compares with scores of either dtype without converting them.
    return min(math.log(info.max) - math.log(classes), -math.log(info.tiny)) - 1


def softmax_row_max(check, x, axis):
    """The maximum of x along `axis` (kept), after refusing NaN, +inf and rows with no
    finite score: the softmax losses' rule for their scores (see the module docstring).

    The maximum is computed anyway to shift the scores, and it is finite exactly when
    the row is fine, so the check costs nothing on good input.
    """
    row_max = x.max(axis=axis, keepdims=True)
    if not np.isfinite(row_max).all():
        check.finite("x", x, minus_inf_ok=True)
        row = tuple(int(i) for i in np.argwhere(~np.isfinite(np.squeeze(row_max, axis)))[0])
        raise check.error(f"x has no finite score in row {row} (every score is -inf): its "
                          f"softmax is undefined")
    return row_max


def _scores_and_labels(check, x, y):
    """x of shape (N, C) with N, C >= 1, and integer labels y of shape (N,) in [0, C)."""
    x = check.floats("x", x, "N C")
    if x.size == 0:
        raise check.error(f"x must hold at least one example and one class; got "
                          f"x.shape = {x.shape}")
    y = check.ints("y", y, "N", high=check.dim("C"), high_name="C")
    return x, y


def _predictions_and_targets(check, x, y, labels_ok):
    """x (N, ...) and y of x's shape: floats of x's dtype, or 0/1 labels if `labels_ok`.

    Returns (x, y, soft) with soft True when y is floating. Floating targets of the
    sigmoid loss are data, like labels: they take x's dtype and get no gradient.
    """
    x = check.finite("x", check.floats("x", x, "N ..."))
    if x.size == 0:
        raise check.error(f"x must hold at least one element; got x.shape = {x.shape}")
    soft = is_float_array(y) or not labels_ok
    if not labels_ok:
        y = check.finite("y", check.floats("y", y))
    elif soft:
        y = check.finite("y", np.asarray(y)).astype(x.dtype, copy=False)
    elif isinstance(y, np.ndarray) and y.dtype == bool:
        y = y.astype(x.dtype)
    elif isinstance(y, (np.ndarray, np.generic)) and np.issubdtype(y.dtype, np.integer):
        # As x's dtype, so that x * y keeps it (float32 * int64 would give float64).
        y = check.ints("y", y, high=2).astype(x.dtype)
    else:
        raise check.error(f"y must be an array of 0/1 labels (integer or bool) or of "
                          f"floating targets in [0, 1]; got {describe(y)}", TypeError)
    if y.shape != x.shape:
        raise check.error(f"y must have x's shape {x.shape}; got y.shape = {y.shape}")
    return x, y, soft


# -- registration -------------------------------------------------------------------------

def _class_dims(rng):
    return dims(rng, (1, 4), (2, 5))


@register(softmax_loss_forward, softmax_loss_backward)
def softmax_loss_example(rng, dtype):
    n, c = _class_dims(rng)
    return normal(rng, (n, c), dtype, scale=2.0), rng.integers(c, size=n)


@register(svm_loss_forward, svm_loss_backward)
def svm_loss_example(rng, dtype):
    # Scores built from margins drawn away from 0, the hinge's kink:
    # x[n, c] = x[n, y[n]] - 1 + margin[n, c].
    n, c = _class_dims(rng)
    y = rng.integers(c, size=n)
    correct = rng.standard_normal((n, 1))
    x = correct - 1 + away_from(rng, (n, c), np.float64, margin=0.1)
    x[np.arange(n), y] = correct[:, 0]
    return x.astype(dtype), y


@register(sigmoid_cross_entropy_loss_forward, sigmoid_cross_entropy_loss_backward)
def sigmoid_cross_entropy_loss_example(rng, dtype):
    shape = dims(rng, (1, 4), (1, 3))
    return normal(rng, shape, dtype, scale=2.0), rng.uniform(0, 1, shape).astype(dtype)


@register(mse_loss_forward, mse_loss_backward)
def mse_loss_example(rng, dtype):
    shape = dims(rng, (1, 4), (1, 3))
    return normal(rng, shape, dtype), normal(rng, shape, dtype)
