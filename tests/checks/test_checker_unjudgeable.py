"""What central differences cannot judge is said, never passed: a NaN numeric gradient, a
noise floor no error could exceed, an argument on a jump of the forward; and -inf inputs
(a masked softmax) are held fixed by design."""

import numpy as np
import pytest

from checks import check_layer


def masked_softmax_forward(x):
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    p = e / e.sum(axis=1, keepdims=True)
    return p, p


def masked_softmax_backward(dout, p):
    return p * (dout - (dout * p).sum(axis=1, keepdims=True))


def masked_logits(rng, shape=(3, 5)):
    x = rng.standard_normal(shape)
    x[0, 1] = x[2, 4] = x[2, 0] = -np.inf
    return x


@pytest.mark.parametrize("strategy", ["elementwise", "directional"])
def test_minus_inf_entries_are_held_fixed_and_the_rest_is_judged(rng, strategy):
    x = masked_logits(rng)
    before = x.copy()
    report = check_layer(masked_softmax_forward, masked_softmax_backward, x,
                         strategy=strategy)
    assert report.ok, str(report)
    [row] = report.arguments
    assert row.held == 3 and np.isfinite(row.max_rel_error) and row.max_rel_error < 1e-7
    assert "(3 non-finite entries held fixed)" in str(report)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("strategy", ["elementwise", "directional"])
def test_a_wrong_gradient_beside_minus_inf_entries_fails(rng, strategy):
    def forgot_the_sum(dout, p):
        return p * dout

    x = masked_logits(rng)
    before = x.copy()
    report = check_layer(masked_softmax_forward, forgot_the_sum, x, strategy=strategy)
    assert not report.ok
    [row] = report.arguments
    assert row.status == "FAIL" and 0.01 < row.max_rel_error <= 1
    np.testing.assert_array_equal(x, before)


def test_a_nan_numeric_gradient_cannot_be_judged(rng):
    # sqrt at 0: moving x by the step gives NaN on one side, whatever backward returns.
    def sqrt_forward(x):
        with np.errstate(invalid="ignore"):
            return np.sqrt(x), x

    def sqrt_backward(dout, x):
        return dout * 7.0          # wrong everywhere: must not pass

    x = np.array([0.0, 1.0, 4.0])
    report = check_layer(sqrt_forward, sqrt_backward, x)
    assert not report.ok
    [row] = report.arguments
    assert row.status == "FAIL"
    assert row.hint.startswith("cannot judge: the numeric gradient is nan at (0,)")
    assert report.problems == [
        "cannot judge x: the numeric gradient is nan at (0,) (and 0 more): the forward "
        "returns NaN or inf when the argument moves by the step"]
    np.testing.assert_array_equal(x, [0.0, 1.0, 4.0])


def hinge_embedding_forward(x, y):
    """CS231n-style hinge embedding loss with float +-1 labels compared with ==."""
    loss = np.where(y == 1, x, np.maximum(0, 1 - x))
    return loss.sum(), (x, y)


def hinge_embedding_backward(dout, cache):
    x, y = cache
    dx = np.where(y == 1, 1.0, -(1 - x > 0).astype(float))
    return dout * dx, np.zeros_like(y)


@pytest.mark.parametrize("bug", [lambda g: -g, lambda g: 1.1 * g, np.zeros_like])
def test_float_labels_on_a_jump_are_named_and_excuse_nothing(rng, bug):
    x = rng.uniform(-0.5, 0.5, 6)
    y = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    before = (x.copy(), y.copy())

    def wrong_backward(dout, cache):
        dx, dy = hinge_embedding_backward(dout, cache)
        return bug(dx), dy

    right = check_layer(hinge_embedding_forward, hinge_embedding_backward, x, y)
    assert [row.status for row in right.arguments] == ["pass", "FAIL"]
    assert right.arguments[1].hint.startswith(
        "cannot judge: it sits on a discontinuity of the forward (moving it by 4 ulps "
        "changes L by ")
    [problem] = right.problems
    assert problem.startswith("cannot judge y: it sits on a discontinuity of the forward")
    assert right.arguments[0].max_rel_error < 1e-8        # x is judged at full precision

    wrong = check_layer(hinge_embedding_forward, wrong_backward, x, y)
    assert wrong.arguments[0].status == "FAIL" and wrong.arguments[0].max_rel_error > 0.04
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])


@pytest.mark.parametrize("seed", range(4))
def test_a_forward_too_rough_to_judge_is_said(seed):
    # Noise far above any gradient, different at every input but the same at one input.
    def noisy_forward(x):
        key = int.from_bytes(np.ascontiguousarray(x).tobytes()[:8], "little")
        noise = np.random.default_rng(key).standard_normal(x.shape)
        return 1e-3 * x + noise, None

    x = np.random.default_rng(seed).standard_normal(4)
    report = check_layer(noisy_forward, lambda dout, cache: 5.0 * dout, x)
    assert not report.ok
    [row] = report.arguments
    assert row.status == "FAIL" and row.hint.startswith("cannot judge: ")
    assert report.problems[0].startswith("cannot judge x: ")


def test_an_argument_whose_every_element_is_at_a_kink_is_not_passed():
    def relu_forward(x):
        return np.maximum(x, 0), x

    def wrong_relu_backward(dout, x):
        return dout * 3.0

    x = np.zeros((2, 3))
    report = check_layer(relu_forward, wrong_relu_backward, x)
    assert not report.ok
    assert report.problems == [
        "cannot judge x: every element sits at a kink of the forward (6 of them): no "
        "gradient was compared (nudge_kinks=True moves them off the kinks)"]
    nudged = check_layer(relu_forward, wrong_relu_backward, x, nudge_kinks=True)
    assert not nudged.ok and nudged.arguments[0].max_rel_error > 0.5
    np.testing.assert_array_equal(x, 0.0)
