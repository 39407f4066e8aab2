"""check_model: a CS231n-style model's loss gradients, one row per parameter."""

import numpy as np
import pytest

from checks import check_model
from training.models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet


class HandWrittenNet:
    """affine - relu - affine - softmax with L2 on the weights, written as in CS231n's
    assignments: a params dict and loss(X, y) -> (loss, grads), every step by hand."""

    def __init__(self, input_dim, hidden_dim, num_classes, reg, seed=0, drop_reg_grad=False,
                 keep=None):
        rng = np.random.default_rng(seed)
        self.params = {"W1": 0.3 * rng.standard_normal((input_dim, hidden_dim)),
                       "b1": 0.1 * rng.standard_normal(hidden_dim),
                       "W2": 0.3 * rng.standard_normal((hidden_dim, num_classes)),
                       "b2": 0.1 * rng.standard_normal(num_classes)}
        self.reg, self.drop_reg_grad, self.keep = reg, drop_reg_grad, keep
        self.calls = 0

    def loss(self, X, y):
        self.calls += 1
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        pre = X @ W1 + b1
        hidden = np.maximum(pre, 0)
        mask = None
        if self.keep is not None:     # CS231n-style dropout on NumPy's global RNG
            mask = (np.random.rand(*hidden.shape) < self.keep) / self.keep
            hidden = hidden * mask
        scores = hidden @ W2 + b2
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        n = X.shape[0]
        loss = -np.log(probs[np.arange(n), y]).mean()
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = probs.copy()
        dscores[np.arange(n), y] -= 1
        dscores /= n
        grads = {"W2": hidden.T @ dscores, "b2": dscores.sum(axis=0)}
        dhidden = dscores @ W2.T
        if mask is not None:
            dhidden = dhidden * mask
        dpre = dhidden * (pre > 0)
        grads["W1"], grads["b1"] = X.T @ dpre, dpre.sum(axis=0)
        if not self.drop_reg_grad:
            grads["W1"] = grads["W1"] + self.reg * W1
            grads["W2"] = grads["W2"] + self.reg * W2
        return loss, grads


def data(rng, n=6, d=30, classes=4):
    return rng.standard_normal((n, d)), rng.integers(0, classes, size=n)


def snapshot(model):
    return {name: (value, value.copy()) for name, value in model.params.items()}


def assert_unchanged(model, saved):
    assert list(model.params) == list(saved)
    for name, (array, values) in saved.items():
        assert model.params[name] is array
        np.testing.assert_array_equal(array, values)


def test_a_hand_written_model_passes_with_one_row_per_parameter(rng):
    model = HandWrittenNet(30, 20, 4, reg=0.3)
    saved = snapshot(model)
    report = check_model(model, *data(rng))
    assert report.ok, str(report)
    assert report.layer == "HandWrittenNet"
    assert [(a.name, a.strategy) for a in report.arguments] == [
        ("W1", "directional (k=4)"), ("b1", "elementwise"), ("W2", "elementwise"),
        ("b2", "elementwise")]
    assert_unchanged(model, saved)
    assert model.calls == 0            # the check ran on a copy


@pytest.mark.parametrize("hidden", [20, 3], ids=["W1 directional", "W1 elementwise"])
def test_a_dropped_regularization_gradient_fails_the_weights_with_a_hint(rng, hidden):
    model = HandWrittenNet(30, hidden, 4, reg=0.3, drop_reg_grad=True)
    saved = snapshot(model)
    report = check_model(model, *data(rng))
    assert not report.ok and not report.problems
    rows = {a.name: a for a in report.arguments}
    assert {name: row.status for name, row in rows.items()} == {
        "W1": "FAIL", "b1": "pass", "W2": "FAIL", "b2": "pass"}
    for name in ("W1", "W2"):
        assert rows[name].hint.startswith("analytic - numeric = -0.3 x the argument itself: "
                                          "a term proportional to it is missing or wrong, "
                                          "such as an L2 regularization gradient reg * W"), \
            rows[name].hint
    assert_unchanged(model, saved)


def test_dropout_on_numpys_global_rng_is_held_fixed(rng):
    model = HandWrittenNet(30, 8, 4, reg=0.1, keep=0.6)
    X, y = data(rng)
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    report = check_model(model, X, y)
    assert report.ok, str(report)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_gatelab_models_pass_and_are_left_as_they_were(rng):
    X, y = data(rng, d=8)
    models = [TwoLayerNet(input_dim=8, hidden_dim=7, num_classes=4, reg=0.3,
                          weight_scale=0.3, weight_seed=0),
              # Dropout without a seed draws from NumPy's global generator.
              FullyConnectedNet([7, 6], input_dim=8, num_classes=4, dropout_keep_ratio=0.6,
                                normalization="batchnorm", reg=0.1, weight_scale=0.3,
                                weight_seed=1),
              FullyConnectedNet([7, 6], input_dim=8, num_classes=4, dropout_keep_ratio=0.6,
                                normalization="layernorm", reg=0.1, weight_scale=0.3,
                                seed=3, weight_seed=2)]
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    for model in models:
        saved = snapshot(model)
        state = [dict(p) for p in model.mode_params]
        report = check_model(model, X, y)
        assert report.ok, str(report)
        assert [a.name for a in report.arguments] == list(model.params)
        assert_unchanged(model, saved)
        assert [dict(p) for p in model.mode_params] == state   # no running statistics
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_gatelab_convnet_passes(rng):
    model = ThreeLayerConvNet(input_dim=(2, 6, 6), num_filters=3, filter_size=3, hidden_dim=7,
                              num_classes=4, weight_scale=0.3, reg=0.05, weight_seed=0)
    report = check_model(model, rng.standard_normal((3, 2, 6, 6)), np.array([0, 3, 1]))
    assert report.ok, str(report)
    assert [a.name for a in report.arguments] == ["W1", "b1", "W2", "b2", "W3", "b3"]


def test_a_model_missing_a_gradient_is_reported(rng):
    class Forgetful(HandWrittenNet):
        def loss(self, X, y):
            loss, grads = super().loss(X, y)
            del grads["b2"]
            return loss, grads

    report = check_model(Forgetful(30, 5, 4, reg=0.1), *data(rng))
    assert not report.ok
    assert "model.loss(X, y) returned no gradient for b2" in report.problems[0]


def test_what_is_not_a_model_is_refused():
    with pytest.raises(TypeError, match=r"check_model: model must have a params dict and a "
                                        r"loss\(X, y\) method, as CS231n's models do; got list"):
        check_model([], np.ones((2, 3)), np.zeros(2, int))

    class NoArrays:
        params = {"W": [1.0, 2.0]}

        def loss(self, X, y):
            return 0.0, {}

    with pytest.raises(TypeError, match="check_model: model.params must map names to NumPy "
                                        "arrays; got W: list"):
        check_model(NoArrays(), np.ones((2, 3)), np.zeros(2, int))
    with pytest.raises(ValueError, match="check_model: strategy must be"):
        check_model(HandWrittenNet(3, 2, 2, reg=0.0), np.ones((2, 3)), np.zeros(2, int),
                    strategy="fast")


def test_a_float32_model_is_checked_through_its_float64_run(rng):
    model = TwoLayerNet(input_dim=8, hidden_dim=7, num_classes=4, reg=0.3, weight_scale=0.3,
                        weight_seed=0, dtype=np.float32)
    report = check_model(model, *data(rng, d=8))
    assert report.ok, str(report)
    assert report.dtype == "float32" and report.precision_tolerance == 1e-3
    assert all(0 <= a.precision_error < 1e-3 for a in report.arguments)
