"""The models: gradients against central differences, CS231n's sanity checks, the digits."""

import inspect
import math

import numpy as np
import pytest

from checks import assert_gradients
from training.models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from training.solver import Solver


def loss_as_layer(model, X, y):
    """The model's loss as a layer pair over its params, for `check_layer`.

    forward(*params) -> (loss, grads) puts the values in the model for one call (and
    restores the model's own); backward scales the grads by the upstream gradient.
    """
    names = list(model.params)

    def forward(*values):
        saved = dict(model.params)
        model.params.update(zip(names, values, strict=True))
        try:
            loss, grads = model.loss(X, y)
        finally:
            model.params.update(saved)
        return np.asarray(loss), grads

    def backward(dloss, grads):
        return tuple(dloss * grads[name] for name in names)

    forward.__signature__ = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names])
    return forward, backward, [model.params[name] for name in names]


def small_data(rng, N=6, D=7, C=4, shape=None):
    X = rng.standard_normal((N, *(shape or (D,))))
    y = rng.integers(0, C, N)
    return X, y


MODELS = {
    "two_layer": lambda: TwoLayerNet(7, 5, 4, weight_scale=0.3, reg=0.7, weight_seed=0),
    "fc_plain": lambda: FullyConnectedNet([5, 6], 7, 4, reg=0.3, weight_scale=0.5,
                                          weight_seed=1),
    "fc_batchnorm_dropout": lambda: FullyConnectedNet(
        [5, 6], 7, 4, normalization="batchnorm", dropout_keep_ratio=0.6, reg=0.3,
        weight_scale=0.5, seed=2, weight_seed=2),
    # No seed: the masks come from NumPy's global generator, which the checker puts back
    # before every evaluation.
    "fc_dropout_unseeded": lambda: FullyConnectedNet(
        [5, 6], 7, 4, dropout_keep_ratio=0.6, reg=0.3, weight_scale=0.5, weight_seed=5),
    "fc_layernorm": lambda: FullyConnectedNet([5, 6], 7, 4, normalization="layernorm",
                                              reg=0.3, weight_scale=0.5, weight_seed=3),
}


@pytest.mark.parametrize("make", MODELS.values(), ids=list(MODELS))
def test_dense_model_gradients(make, rng):
    # The unseeded model's masks come from NumPy's global generator, in whatever state
    # earlier tests left it: a draw that drops every hidden unit of an example puts that
    # example's next pre-activations at exactly b2 = 0, a kink of the ReLU along every
    # element of b2, which the check then cannot judge. A fixed state keeps the draw the
    # same in every run (the masks still come from the global generator).
    state = np.random.get_state()
    np.random.seed(0)
    try:
        model = make()
        X, y = small_data(rng)
        forward, backward, values = loss_as_layer(model, X, y)
        assert_gradients(forward, backward, *values)
    finally:
        np.random.set_state(state)


def test_convnet_gradients(rng):
    model = ThreeLayerConvNet((2, 4, 4), num_filters=3, filter_size=3, hidden_dim=5,
                              num_classes=4, weight_scale=0.3, reg=0.2, weight_seed=4)
    X, y = small_data(rng, N=3, shape=(2, 4, 4))
    forward, backward, values = loss_as_layer(model, X, y)
    assert_gradients(forward, backward, *values)


def test_regularization_covers_the_weights_only(rng):
    model = FullyConnectedNet([5], 7, 4, normalization="batchnorm", reg=0.0, weight_seed=0)
    X, y = small_data(rng)
    loss, _ = model.loss(X, y)
    model.reg = 2.0
    loss_reg, grads = model.loss(X, y)
    weights = model.params["W1"], model.params["W2"]
    assert loss_reg - loss == pytest.approx(sum(np.sum(w * w) for w in weights), rel=1e-12)


@pytest.mark.parametrize("make", [
    lambda: TwoLayerNet(64, 50, 10, weight_seed=0),
    lambda: FullyConnectedNet([50, 40], 64, 10, normalization="batchnorm", weight_seed=0),
    lambda: ThreeLayerConvNet((1, 8, 8), 8, 3, 20, 10, weight_seed=0),
], ids=["two_layer", "fc_batchnorm", "convnet"])
def test_initial_loss_is_about_log_C(make, rng):
    model = make()
    shape = (1, 8, 8) if isinstance(model, ThreeLayerConvNet) else (64,)
    X, y = small_data(rng, N=50, C=10, shape=shape)
    loss, _ = model.loss(X, y)
    # Small weights give near-uniform scores: loss = log 10 = 2.3026 up to ~1e-3.
    assert loss == pytest.approx(math.log(10), abs=5e-3)


@pytest.mark.parametrize("make, shape", [
    (lambda: TwoLayerNet(20, 100, 10, weight_scale="he", weight_seed=0), (20,)),
    (lambda: FullyConnectedNet([100, 100], 20, 10, normalization="batchnorm",
                               weight_scale="he", weight_seed=0), (20,)),
    (lambda: ThreeLayerConvNet((1, 6, 6), 8, 3, 50, 10, weight_scale="he", weight_seed=0),
     (1, 6, 6)),
], ids=["two_layer", "fc_batchnorm", "convnet"])
def test_overfits_50_examples(make, shape):
    rng = np.random.default_rng(5)
    X, y = small_data(rng, N=50, C=10, shape=shape)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    solver = Solver(make(), data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    batch_size=25, num_epochs=40, verbose=False, seed=0)
    solver.train()
    assert solver.history.train_acc[-1] == 1.0
    assert np.mean(solver.history.loss[-4:]) < 0.1 * solver.history.loss[0]


def test_model_params_are_the_graphs(rng):
    model = TwoLayerNet(7, 5, 4, weight_seed=0)
    assert model.params is model.net.params
    X, _ = small_data(rng)
    model.params["b2"] = np.array([0.0, 0.0, 100.0, 0.0])
    assert np.all(np.argmax(model.loss(X), axis=1) == 2)
    model.params = {**model.params, "b2": np.array([0.0, 100.0, 0.0, 0.0])}
    assert np.all(np.argmax(model.loss(X), axis=1) == 1)
    with pytest.raises(ValueError, match=r"TwoLayerNet.params: expected the names "
                                         r"\['W1', 'W2', 'b1', 'b2'\]; got \['W1'\]"):
        model.params = {"W1": model.params["W1"]}


def test_batchnorm_trains_with_batch_statistics_and_tests_with_running_ones(rng):
    model = FullyConnectedNet([5], 7, 4, normalization="batchnorm", weight_seed=0)
    X, y = small_data(rng)
    model.loss(X, y)
    running = model.bn_params[0]["running_mean"]
    assert running.shape == (5,) and np.any(running != 0)
    scores = model.loss(X)
    assert model.bn_params[0]["mode"] == "test"
    np.testing.assert_array_equal(model.bn_params[0]["running_mean"], running)  # unchanged
    assert scores.shape == (6, 4)


def test_float32_model_stays_float32(rng):
    model = FullyConnectedNet([5], 7, 4, normalization="layernorm", reg=0.1, weight_seed=0,
                              dtype=np.float32)
    X, y = small_data(rng)
    loss, grads = model.loss(X, y)                 # float64 X is cast to the model's dtype
    assert loss.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_model_argument_errors():
    with pytest.raises(ValueError, match=r"FullyConnectedNet: normalization must be None or "
                                         r"'batchnorm' or 'layernorm'; got 'groupnorm'"):
        FullyConnectedNet([5], normalization="groupnorm")
    with pytest.raises(ValueError, match=r"FullyConnectedNet: dropout_keep_ratio must be in "
                                         r"\(0, 1\]; got 0"):
        FullyConnectedNet([5], dropout_keep_ratio=0)
    with pytest.raises(ValueError, match=r"TwoLayerNet: weight_scale must be a number or "
                                         r"'he'; got 'xavier'"):
        TwoLayerNet(weight_scale="xavier")
    with pytest.raises(ValueError, match=r"ThreeLayerConvNet: filter_size must be odd"):
        ThreeLayerConvNet(filter_size=4)


def test_model_arguments_name_the_argument_and_accept_numpy_ints():
    with pytest.raises(ValueError, match=r"ThreeLayerConvNet: input_dim must be a tuple "
                                         r"\(C, H, W\) of 3 ints; got 5"):
        ThreeLayerConvNet(input_dim=5)
    with pytest.raises(TypeError, match=r"FullyConnectedNet: hidden_dims must be a list of "
                                        r"ints; got int"):
        FullyConnectedNet(5)
    with pytest.raises(TypeError, match=r"FullyConnectedNet: hidden_dims\[1\] must be an "
                                        r"integer; got float"):
        FullyConnectedNet([4, 5.0])
    model = FullyConnectedNet([np.int64(5)], input_dim=np.int64(4), num_classes=3,
                              weight_seed=0)
    assert model.params["W1"].shape == (4, 5) and model.params["W2"].shape == (5, 3)


def test_assigning_params_checks_every_shape_before_copying_any():
    model = TwoLayerNet(4, 3, 2, weight_seed=0)
    before = {name: value.copy() for name, value in model.params.items()}
    new = {name: value + 1 for name, value in model.params.items()}
    new["W2"] = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"TwoLayerNet.params: W2 must be a float64 array "
                                         r"of shape \(3, 2\); got float64 array of shape "
                                         r"\(2, 3\)"):
        model.params = new
    for name in before:                                    # W1 was not copied either
        np.testing.assert_array_equal(model.params[name], before[name])
    new["W2"] = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"W2 must be a float64 array of shape \(3, 2\); "
                                         r"got float32 array"):
        model.params = new


def test_two_layer_net_reaches_97_percent_on_the_digits():
    pytest.importorskip("sklearn")
    from training.train import train_digits

    run = train_digits("twolayer", seed=0)
    assert run["test_acc"] >= 0.97
    assert len(run["data"]["y_test"]) == 359


def test_initial_weights_come_from_the_global_generator_as_in_cs231n():
    np.random.seed(231)
    model = FullyConnectedNet([5, 6], input_dim=4, num_classes=3, weight_scale=0.1,
                              normalization="batchnorm")
    np.random.seed(231)
    for name, shape in [("W1", (4, 5)), ("W2", (5, 6)), ("W3", (6, 3))]:
        np.testing.assert_array_equal(model.params[name], 0.1 * np.random.randn(*shape))
    np.random.seed(231)
    model = ThreeLayerConvNet((2, 4, 4), num_filters=3, filter_size=3, hidden_dim=5,
                              num_classes=4)
    np.random.seed(231)
    for name, shape in [("W1", (3, 2, 3, 3)), ("W2", (12, 5)), ("W3", (5, 4))]:
        np.testing.assert_array_equal(model.params[name], 1e-3 * np.random.randn(*shape))


def test_weight_seed_leaves_the_global_generator_alone():
    np.random.seed(3)
    before = np.random.get_state()[1].copy()
    model = TwoLayerNet(4, 3, 2, weight_scale=0.5, weight_seed=7)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(model.params["W1"], 0.5 * rng.standard_normal((4, 3)))
    np.testing.assert_array_equal(model.params["W2"], 0.5 * rng.standard_normal((3, 2)))
    again = TwoLayerNet(4, 3, 2, weight_scale=0.5, weight_seed=np.random.default_rng(7))
    np.testing.assert_array_equal(again.params["W2"], model.params["W2"])


def test_seed_fixes_the_dropout_mask_and_not_the_weights(rng):
    X, y = small_data(rng)
    np.random.seed(0)
    first = FullyConnectedNet([5], 7, 4, dropout_keep_ratio=0.5, seed=11)
    np.random.seed(1)
    second = FullyConnectedNet([5], 7, 4, dropout_keep_ratio=0.5, seed=11)
    assert not np.array_equal(first.params["W1"], second.params["W1"])
    assert first.dropout_param["seed"] == 11
    assert first.loss(X, y)[0] == first.loss(X, y)[0]      # one mask, every call
    unseeded = FullyConnectedNet([5], 7, 4, dropout_keep_ratio=0.5, weight_seed=0)
    assert "seed" not in unseeded.dropout_param


def test_dropout_is_2019s_name_for_the_keep_ratio():
    old = FullyConnectedNet([5], 7, 4, dropout=0.75, weight_seed=0)
    new = FullyConnectedNet([5], 7, 4, dropout_keep_ratio=0.75, weight_seed=0)
    assert old.dropout_param == new.dropout_param == {"mode": "train", "p": 0.75}
    assert not FullyConnectedNet([5], 7, 4, dropout=1, weight_seed=0).use_dropout
    with pytest.raises(ValueError, match=r"FullyConnectedNet: dropout \(CS231n 2019's name\) "
                                         r"and dropout_keep_ratio are the same setting"):
        FullyConnectedNet([5], dropout=0.5, dropout_keep_ratio=0.75)


@pytest.mark.parametrize("make, error, message", [
    (lambda: FullyConnectedNet([5], seed=2**32), ValueError,
     r"FullyConnectedNet: seed must be < 2\*\*32 \(NumPy's legacy seeds\); got 4294967296"),
    (lambda: FullyConnectedNet([5], seed=1.5), TypeError,
     r"FullyConnectedNet: seed must be an integer; got float"),
    (lambda: TwoLayerNet(weight_seed="0"), TypeError,
     r"TwoLayerNet: weight_seed must be an int or a np.random.Generator; got str"),
    (lambda: FullyConnectedNet([5], dropout=0), ValueError,
     r"FullyConnectedNet: dropout must be in \(0, 1\]; got 0"),
])
def test_randomness_arguments_are_checked(make, error, message):
    with pytest.raises(error, match=message):
        make()
