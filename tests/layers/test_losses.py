"""Losses: values by hand, the pair and the fused form, extreme logits, and bad input."""

import re

import numpy as np
import pytest

from checks import assert_gradients
from layers import losses
from layers import (mse_loss, mse_loss_backward, mse_loss_forward, sigmoid_cross_entropy_loss,
                    sigmoid_cross_entropy_loss_backward, sigmoid_cross_entropy_loss_forward,
                    softmax_loss, softmax_loss_backward, softmax_loss_forward, svm_loss,
                    svm_loss_backward, svm_loss_forward, temporal_softmax_loss,
                    temporal_softmax_loss_forward)
from layers.args import called_layer
from layers.contract import differentiable

FUSED = [
    (softmax_loss, softmax_loss_forward, softmax_loss_backward),
    (svm_loss, svm_loss_forward, svm_loss_backward),
    (sigmoid_cross_entropy_loss, sigmoid_cross_entropy_loss_forward,
     sigmoid_cross_entropy_loss_backward),
    (mse_loss, mse_loss_forward, mse_loss_backward),
]


def example_for(forward, dtype=np.float64):
    """Inputs of every loss from one generator: (N, C) scores and labels, or targets."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(dtype)
    if forward in (softmax_loss_forward, svm_loss_forward):
        return x, rng.integers(3, size=4)
    if forward is sigmoid_cross_entropy_loss_forward:
        return x, rng.uniform(0, 1, x.shape).astype(dtype)
    return x, rng.standard_normal(x.shape).astype(dtype)


def as_tuple(grads):
    """The contract's gradients as a tuple: a bare array when there is one."""
    return grads if isinstance(grads, tuple) else (grads,)


# -- softmax cross-entropy ----------------------------------------------------------------

@pytest.mark.parametrize("classes", [1, 2, 10])
def test_softmax_loss_of_zero_logits_is_log_c(classes):
    x = np.zeros((3, classes))
    loss, dx = softmax_loss(x, np.zeros(3, dtype=int))
    assert loss == pytest.approx(np.log(classes), rel=1e-15, abs=1e-15)
    expected = np.full((3, classes), 1 / classes)
    expected[:, 0] -= 1
    np.testing.assert_allclose(dx, expected / 3, rtol=1e-15, atol=1e-17)


def test_softmax_loss_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, np.log(2.0)]])
    y = np.array([2, 0])
    # Row 0: log(e + e^2 + e^3) - 3. Row 1: probabilities [1/4, 1/4, 1/2], correct 1/4.
    row0 = np.log(np.e + np.e ** 2 + np.e ** 3) - 3
    loss, dx = softmax_loss(x, y)
    assert loss == pytest.approx((row0 + np.log(4)) / 2, rel=1e-15)
    p0 = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    expected = np.array([p0 - [0, 0, 1], [0.25 - 1, 0.25, 0.5]]) / 2
    np.testing.assert_allclose(dx, expected, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_loss_at_logits_of_1e4_is_finite(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=dtype)
    y = np.array([1, 1])
    with np.errstate(all="raise"):
        loss, dx = softmax_loss(x, y)
    # Row 0 puts all its mass on class 0: -log softmax = 2e4; row 1 is right: 0.
    assert loss.dtype == dx.dtype == dtype
    assert loss == 1e4
    np.testing.assert_array_equal(dx, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block_bytes", [1, 1 << 40])
def test_softmax_loss_rows_taken_unshifted_or_shifted_agree(monkeypatch, dtype, block_bytes):
    # Rows whose max is below 0, within the range taken without a shift, just above it
    # and far above it, in blocks of one row each and in one block of all.
    monkeypatch.setattr(losses, "SOFTMAX_BLOCK_BYTES", block_bytes)
    classes = 50
    limit = losses._unshifted_limit(np.dtype(dtype), classes)
    rng = np.random.default_rng(1)
    tops = [-30.0, -1e-3, 0.0, 1.0, 20.0, limit * 0.999, limit * 1.001, 1e4]
    x = rng.standard_normal((len(tops), classes)) * 3
    x += (np.array(tops) - x.max(axis=1))[:, None]
    x = x.astype(dtype)
    y = rng.integers(classes, size=len(tops))
    with np.errstate(all="raise"):
        loss, dx = softmax_loss(x, y)
        pair_loss, cache = softmax_loss_forward(x, y)
        pair_dx = softmax_loss_backward(1.0, cache)
    assert loss == pair_loss
    np.testing.assert_array_equal(dx, pair_dx)
    wide = x.astype(np.longdouble)
    shifted = wide - wide.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(tops))
    expected_dx = np.exp(log_softmax)
    expected_dx[rows, y] -= 1
    tol = 4 * float(np.finfo(dtype).eps)
    assert loss == pytest.approx(-log_softmax[rows, y].mean(), rel=tol)
    np.testing.assert_allclose(dx, expected_dx / len(tops), rtol=tol, atol=tol / len(tops))


# -- multiclass SVM -----------------------------------------------------------------------

def test_svm_loss_by_hand():
    x = np.array([[3.0, 1.0, 2.5], [0.0, 2.0, 1.5]])
    y = np.array([0, 1])
    # Row 0: margins max(0, 1 - 3 + 1) = 0 and 2.5 - 3 + 1 = 0.5.
    # Row 1: margins max(0, 0 - 2 + 1) = 0 and 1.5 - 2 + 1 = 0.5. Mean over N = 2.
    loss, dx = svm_loss(x, y)
    assert loss == 0.5
    np.testing.assert_array_equal(dx, [[-0.5, 0.0, 0.5], [0.0, -0.5, 0.5]])


def test_svm_loss_at_the_kink_takes_gradient_zero():
    loss, dx = svm_loss(np.array([[1.0, 0.0]]), np.array([0]))
    assert loss == 0.0
    np.testing.assert_array_equal(dx, [[0.0, 0.0]])


# -- sigmoid binary cross-entropy ---------------------------------------------------------

def test_sigmoid_cross_entropy_by_hand():
    x = np.array([2.0, -1.0, 0.0])
    y = np.array([1, 1, 0])
    # log(1 + e^-2), log(1 + e^1), log 2; averaged over the 3 elements.
    expected = (np.log1p(np.exp(-2.0)) + np.log1p(np.e) + np.log(2)) / 3
    loss, dx = sigmoid_cross_entropy_loss(x, y)
    assert loss == pytest.approx(expected, rel=1e-15)
    sigmoid = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(dx, (sigmoid - y) / 3, rtol=1e-15)


def test_sigmoid_cross_entropy_labels_bool_and_float_agree():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2))
    labels = np.array([[1, 0], [0, 0], [1, 1]])
    by_int, by_bool = (sigmoid_cross_entropy_loss_forward(x, y) for y in
                       (labels, labels.astype(bool)))
    by_float = sigmoid_cross_entropy_loss_forward(x, labels.astype(float))
    assert by_int[0] == by_bool[0] == by_float[0]
    dx = sigmoid_cross_entropy_loss_backward(1.0, by_int[1])
    assert isinstance(dx, np.ndarray)
    # Targets are data, whatever their dtype: the backward returns dx alone.
    dx_float = sigmoid_cross_entropy_loss_backward(1.0, by_float[1])
    np.testing.assert_array_equal(dx, dx_float)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_cross_entropy_at_logits_of_1e4_is_finite(dtype):
    x = np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    y = np.array([1, 0, 0, 1])
    with np.errstate(all="raise"):
        loss, dx = sigmoid_cross_entropy_loss(x, y)
        _, cache = sigmoid_cross_entropy_loss_forward(x, y.astype(dtype))
        dx_soft = sigmoid_cross_entropy_loss_backward(1.0, cache)
    # Two confident right answers cost 0, two confident wrong ones 1e4 each.
    assert loss.dtype == dx.dtype == dx_soft.dtype == dtype
    assert loss == 5e3
    np.testing.assert_array_equal(dx, [0.0, 0.0, 0.25, -0.25])
    np.testing.assert_array_equal(dx_soft, dx)


@pytest.mark.parametrize("labels", [np.array([[1, 0, 1], [0, 0, 1]]),
                                    np.array([[True, False], [False, True]])])
def test_sigmoid_cross_entropy_gradient_with_labels(labels):
    x = np.random.default_rng(2).standard_normal(labels.shape)
    assert_gradients(sigmoid_cross_entropy_loss_forward, sigmoid_cross_entropy_loss_backward,
                     x, labels)


# -- mean squared error -------------------------------------------------------------------

def test_mse_by_hand():
    x, y = np.array([[1.0, 2.0]]), np.array([[0.0, 4.0]])
    loss, cache = mse_loss_forward(x, y)
    assert loss == 2.5  # (1 + 4) / 2 elements
    dx, dy = mse_loss_backward(1.0, cache)
    np.testing.assert_array_equal(dx, [[1.0, -2.0]])
    np.testing.assert_array_equal(dy, [[-1.0, 2.0]])
    np.testing.assert_array_equal(mse_loss(x, y)[1], dx)


# -- every loss ---------------------------------------------------------------------------

@pytest.mark.parametrize("fused, forward, backward", FUSED, ids=lambda f: f.__name__)
def test_fused_form_is_the_pair_with_dloss_one(fused, forward, backward):
    x, y = example_for(forward)
    loss, dx = fused(x, y)
    pair_loss, cache = forward(x, y)
    assert loss == pair_loss
    np.testing.assert_array_equal(dx, as_tuple(backward(1.0, cache))[0])


@pytest.mark.parametrize("fused, forward, backward", FUSED, ids=lambda f: f.__name__)
def test_backward_scales_by_dloss(fused, forward, backward):
    x, y = example_for(forward)
    _, cache = forward(x, y)
    once, scaled = as_tuple(backward(1.0, cache)), as_tuple(backward(np.array(-2.5), cache))
    for grad, scaled_grad in zip(once, scaled, strict=True):
        np.testing.assert_allclose(scaled_grad, -2.5 * grad, rtol=1e-15)


@pytest.mark.parametrize("fused, forward, backward", FUSED, ids=lambda f: f.__name__)
def test_loss_is_a_numpy_scalar_of_the_dtype_of_x(fused, forward, backward):
    x, y = example_for(forward, np.float32)
    loss, dx = fused(x, y)
    assert isinstance(loss, np.float32) and dx.dtype == np.float32
    loss64, _ = fused(*example_for(forward))
    assert isinstance(loss64, np.float64)
    assert loss == pytest.approx(loss64, rel=1e-6)


@pytest.mark.parametrize("fused, forward, backward", FUSED, ids=lambda f: f.__name__)
def test_backward_refuses_a_non_scalar_dloss(fused, forward, backward):
    _, cache = forward(*example_for(forward))
    with pytest.raises(ValueError, match=re.escape(
            f"{backward.__name__}: dloss must have the shape of the forward output (); "
            "got dloss.shape = (1,)")):
        backward(np.ones(1), cache)


# -- bad input ----------------------------------------------------------------------------

X = np.zeros((3, 4))


@pytest.mark.parametrize("forward", [softmax_loss_forward, svm_loss_forward],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("x, y, error, message", [
    (np.zeros(4), np.array([0]), ValueError,
     "x must be a 2-d array of shape (N, C); got x.shape = (4,)"),
    (X, np.array([0, 1]), ValueError,
     "y must have shape (N,) with N=3 from x; got y.shape = (2,)"),
    (X, np.array([[0], [1], [2]]), ValueError,
     "y must be a 1-d array of shape (N,); got y.shape = (3, 1)"),
    (X, np.array([0, 1, 4]), ValueError,
     "y must hold values in [0, C=4); got values from 0 to 4"),
    (X, np.array([0, -1, 2]), ValueError,
     "y must hold values in [0, C=4); got values from -1 to 2"),
    (X, np.array([0.0, 1.0, 2.0]), TypeError,
     "y must be an integer array; got float64 array of shape (3,)"),
    (X.astype(complex), np.array([0, 1, 2]), TypeError,
     "x must be a number array, float32 or float64 (integers and Python numbers are "
     "promoted as NumPy does); got complex128"),
    (np.zeros((0, 4)), np.array([], dtype=int), ValueError,
     "x must hold at least one example and one class; got x.shape = (0, 4)"),
    (np.zeros((3, 0)), np.zeros(3, dtype=int), ValueError,
     "x must hold at least one example and one class; got x.shape = (3, 0)"),
])
def test_class_losses_bad_input(forward, x, y, error, message):
    with pytest.raises(error, match=re.escape(f"{forward.__name__}: {message}")):
        forward(x, y)


@pytest.mark.parametrize("forward, y, error, message", [
    (sigmoid_cross_entropy_loss_forward, np.ones((3, 3), dtype=int), ValueError,
     "y must have x's shape (3, 4); got y.shape = (3, 3)"),
    (sigmoid_cross_entropy_loss_forward, np.full((3, 4), 2), ValueError,
     "y must hold values in [0, 2); got values from 2 to 2"),
    (sigmoid_cross_entropy_loss_forward, np.full((3, 4), 1.5), ValueError,
     "y, as floating targets, must hold values in [0, 1]; got values from 1.5 to 1.5"),
    (sigmoid_cross_entropy_loss_forward, [[1, 0, 1, 0]] * 3, TypeError,
     "y must be an array of 0/1 labels (integer or bool) or of floating targets in [0, 1]"),
    (mse_loss_forward, np.ones((4, 3)), ValueError,
     "y must have x's shape (3, 4); got y.shape = (4, 3)"),
    (mse_loss_forward, np.ones((3, 4), dtype=bool), TypeError,
     "y must be a number array, float32 or float64 (integers and Python numbers are "
     "promoted as NumPy does); got bool"),
])
def test_elementwise_losses_bad_input(forward, y, error, message):
    with pytest.raises(error, match=re.escape(f"{forward.__name__}: {message}")):
        forward(X, y)


@pytest.mark.parametrize("forward", [sigmoid_cross_entropy_loss_forward, mse_loss_forward],
                         ids=lambda f: f.__name__)
def test_elementwise_losses_promote_integer_x(forward):
    # Integer logits or predictions are numbers: computed as float64, as NumPy would.
    x = np.array([[1, -2], [0, 3]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    loss, cache = forward(x, y)
    expected, _ = forward(x.astype(np.float64), y)
    assert loss.dtype == np.float64 and loss == expected


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0)])
@pytest.mark.parametrize("forward", [sigmoid_cross_entropy_loss_forward, mse_loss_forward],
                         ids=lambda f: f.__name__)
def test_elementwise_losses_refuse_an_empty_x(forward, shape):
    # The mean over no elements is undefined: a clear error, not NaN.
    with pytest.raises(ValueError, match=re.escape(
            f"{forward.__name__}: x must hold at least one element; got x.shape = {shape}")):
        forward(np.zeros(shape), np.zeros(shape))


# -- the name a refusal carries -----------------------------------------------------------

# Scores with integer values, so that the same x can be passed as floats (the fused
# softmax loss's own path), as an integer array or as a nested list (both converted by the
# pair's contract).
SCORES = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, -1.0, 2.0], [2.0, 2.0, 0.0, 1.0]])
WITH_NAN = np.where(np.arange(12).reshape(3, 4) == 6, np.nan, SCORES)  # NaN at (1, 2)
NUMBER_ARRAY = ("must be a number array, float32 or float64 (integers and Python numbers "
                "are promoted as NumPy does); got ")


def temporal(x, y):
    """temporal_softmax_loss(x, y, mask) with (N, C) scores as one sequence of N steps (x
    an array or a nested list; any other x as it is)."""
    x = x[None] if isinstance(x, np.ndarray) else [x] if isinstance(x, list) else x
    return temporal_softmax_loss(x, y[None], np.ones((1, 3), dtype=bool))


# (fused, pair forward, y, error, message after "name: "): refusals of y, made whatever
# form x takes.
BAD_Y = [
    *((fused, forward, y, error, message)
      for fused, forward in [(softmax_loss, softmax_loss_forward), (svm_loss, svm_loss_forward)]
      for y, error, message in [
          (np.array([0, 5, 1]), ValueError,
           "y must hold values in [0, C=4); got values from 0 to 5"),
          (np.array([0, 1]), ValueError,
           "y must have shape (N,) with N=3 from x; got y.shape = (2,)"),
          (np.array([0.0, 1.0, 2.0]), TypeError,
           "y must be an integer array; got float64 array of shape (3,)"),
      ]),
    (sigmoid_cross_entropy_loss, sigmoid_cross_entropy_loss_forward, np.full((3, 4), 2),
     ValueError, "y must hold values in [0, 2); got values from 2 to 2"),
    (sigmoid_cross_entropy_loss, sigmoid_cross_entropy_loss_forward, np.full((3, 4), 1.5),
     ValueError, "y, as floating targets, must hold values in [0, 1]; got values from 1.5 "
     "to 1.5"),
    (sigmoid_cross_entropy_loss, sigmoid_cross_entropy_loss_forward, np.ones((3, 3), int),
     ValueError, "y must have x's shape (3, 4); got y.shape = (3, 3)"),
    (sigmoid_cross_entropy_loss, sigmoid_cross_entropy_loss_forward, [[1, 0, 1, 0]] * 3,
     TypeError, "y must be an array of 0/1 labels (integer or bool) or of floating targets "
     "in [0, 1]; got list"),
    (mse_loss, mse_loss_forward, WITH_NAN, ValueError, "y holds NaN at index (1, 2)"),
    (mse_loss, mse_loss_forward, np.ones((4, 3)), ValueError,
     "y must have x's shape (3, 4); got y.shape = (4, 3)"),
    (mse_loss, mse_loss_forward, np.ones((3, 4), bool), TypeError,
     "y " + NUMBER_ARRAY + "bool array of shape (3, 4)"),
    (temporal, temporal_softmax_loss_forward, np.array([0, 5, 1]), ValueError,
     "y must hold values in [0, V=4); got values from 0 to 5"),
    (temporal, temporal_softmax_loss_forward, np.array([0, 1]), ValueError,
     "y must have shape (N, T) with N=1 from x, T=3 from x; got y.shape = (1, 2)"),
    (temporal, temporal_softmax_loss_forward, np.array([0.0, 1.0, 2.0]), TypeError,
     "y must be an integer array; got float64 array of shape (1, 3)"),
]

# The labels or targets each loss takes with SCORES.
GOOD_Y = {softmax_loss: np.array([0, 3, 1]), svm_loss: np.array([0, 3, 1]),
          sigmoid_cross_entropy_loss: np.ones((3, 4), int), mse_loss: np.ones((3, 4)),
          temporal: np.array([0, 3, 1])}
PAIRS = {softmax_loss: softmax_loss_forward, svm_loss: svm_loss_forward,
         sigmoid_cross_entropy_loss: sigmoid_cross_entropy_loss_forward,
         mse_loss: mse_loss_forward, temporal: temporal_softmax_loss_forward}

# (x, path, error, message after "name: "): refusals of x, for every loss (the temporal
# one sees a sequence of one, where (1, 2) is at (0, 1, 2)).
BAD_X = [
    (WITH_NAN, "float array", ValueError, "x holds NaN at index (1, 2); only finite values"),
    (WITH_NAN.tolist(), "nested list", ValueError,
     "x holds NaN at index (1, 2); only finite values"),
    (SCORES.astype(complex), "complex array", TypeError,
     "x " + NUMBER_ARRAY + "complex128 array of shape "),
    ("scores", "str", TypeError, "x " + NUMBER_ARRAY + "str"),
]

X_FORMS = {"float array": lambda x: x, "integer array": lambda x: x.astype(np.int64),
           "nested list": lambda x: x.tolist()}


def name_of(fused):
    return "temporal_softmax_loss" if fused is temporal else fused.__name__


def refusal(call, x, y, error):
    with pytest.raises(error) as raised:
        call(x, y)
    return str(raised.value)


@pytest.mark.parametrize("form", X_FORMS)
@pytest.mark.parametrize("fused, forward, y, error, message", BAD_Y,
                         ids=lambda v: getattr(v, "__name__", None))
def test_a_fused_loss_refuses_y_under_its_own_name(fused, forward, y, error, message, form):
    # The float array takes the fused softmax loss's own path; the integer array and the
    # nested list are converted by the pair's contract first.
    x = X_FORMS[form](SCORES)
    assert refusal(fused, x, y, error).startswith(f"{name_of(fused)}: {message}")
    if fused is not temporal:
        # The pair, called itself, names itself.
        assert refusal(forward, x, y, error).startswith(f"{forward.__name__}: {message}")
    assert called_layer.get() is None


@pytest.mark.parametrize("x, path, error, message", BAD_X,
                         ids=[path for _, path, _, _ in BAD_X])
@pytest.mark.parametrize("fused", list(GOOD_Y), ids=name_of)
def test_a_fused_loss_refuses_x_under_its_own_name(fused, x, path, error, message):
    y = GOOD_Y[fused]
    if fused in (softmax_loss, temporal):
        # The softmax losses admit -inf: "only finite values (or -inf, ...) are accepted".
        message = message.replace("only finite values", "only finite values (or -inf")
    if fused is temporal:
        message = message.replace("(1, 2)", "(0, 1, 2)")
    assert refusal(fused, x, y, error).startswith(f"{name_of(fused)}: {message}")
    if fused is not temporal:
        forward = PAIRS[fused]
        assert refusal(forward, x, y, error).startswith(f"{forward.__name__}: {message}")
    assert called_layer.get() is None


def test_the_fused_temporal_loss_refuses_a_bad_mask_under_its_own_name():
    x, y = np.zeros((2, 3, 4)), np.zeros((2, 3), int)
    with pytest.raises(TypeError, match=re.escape(
            "temporal_softmax_loss: mask must be a boolean array; got int64 array")):
        temporal_softmax_loss(x, y, np.ones((2, 3), np.int64))


@pytest.mark.parametrize("fused", [softmax_loss, svm_loss], ids=name_of)
@pytest.mark.parametrize("form", X_FORMS)
def test_a_fused_loss_inside_a_layer_refuses_under_the_layers_name(fused, form):
    # A layer built on a fused loss checks its arguments under its own name, as a
    # sandwich layer does: the user called it, not the loss.
    @differentiable("x")
    def scored_forward(x, y):
        loss, dx = fused(X_FORMS[form](x), y)
        return loss, dx

    with pytest.raises(ValueError, match=r"^scored_forward: y must hold values in \[0, C=4\)"):
        scored_forward(SCORES, np.array([0, 5, 1]))
    assert called_layer.get() is None


@pytest.mark.parametrize("fused, forward, backward", FUSED, ids=lambda f: f.__name__)
@pytest.mark.parametrize("form", X_FORMS)
def test_a_fused_loss_named_as_called_gives_the_pairs_results(fused, forward, backward,
                                                             form):
    # Bit for bit, whichever path the x takes.
    y = GOOD_Y[fused]
    loss, dx = fused(X_FORMS[form](SCORES), y)
    pair_loss, cache = forward(SCORES, y)
    assert loss == pair_loss and loss.dtype == pair_loss.dtype
    np.testing.assert_array_equal(dx, as_tuple(backward(1.0, cache))[0])
