"""to_torch: gatelab models and Sequentials exported to torch compute what gatelab computes.

Scores, loss and every gradient are compared with gatelab's in train and in eval mode,
in float64 to 1e-10 (relative to the largest value of the compared quantity, so that a
gradient that is 0 in exact arithmetic, a bias before batch norm, is compared at the
model's scale rather than by dividing rounding noise by itself) and in float32 to 1e-5.

Dropout in train mode: torch draws its own masks, so each exported ``nn.Dropout`` gets a
forward hook that applies gatelab's mask (the one its dropout_forward draws from the
model's seed) to the module's input; this compares everything around the masks. The
masks' own mapping (torch's p = 1 - gatelab's keep probability, the same 1 / keep
scaling) is tested on its own, on a large input.
"""

import sys

import numpy as np
import pytest

from graph import Sequential
from layers import dropout_forward, softmax_loss
from training import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet, to_torch

RTOL = {"float64": 1e-10, "float32": 1e-5}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def assert_close(ours, theirs, dtype, scale=None):
    """Agreement to RTOL[dtype] relative to `scale` (the largest |theirs| by default)."""
    theirs = np.asarray(theirs, dtype=np.float64)
    if scale is None:
        scale = float(np.max(np.abs(theirs), initial=0.0))
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), theirs, rtol=0,
                               atol=RTOL[dtype] * max(scale, 1e-300))


def assert_grads_close(ours, theirs, dtype):
    """Every gradient, each judged at the scale of the largest gradient of the model."""
    assert set(ours) == set(theirs)
    scale = max(float(np.max(np.abs(g))) for g in theirs.values())
    for name in theirs:
        assert ours[name].shape == theirs[name].shape, name
        assert_close(ours[name], theirs[name], dtype, scale)


def with_gatelab_masks(torch, net, dropout_param):
    """Make every nn.Dropout of `net` apply the mask gatelab's dropout draws (its seed)."""
    def hook(module, inputs, output):
        x = inputs[0]
        dtype = str(x.dtype).replace("torch.", "")
        mask, _ = dropout_forward(np.ones(tuple(x.shape), dtype), dict(dropout_param,
                                                                          mode="train"))
        return x * torch.from_numpy(mask)

    dropouts = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    for module in dropouts:
        module.register_forward_hook(hook)
    return len(dropouts)


# --- the models ------------------------------------------------------------------------------

def models(dtype):
    """(name, model, X, y): each model with its weights and running statistics random."""
    rng = np.random.default_rng(0)
    common = dict(num_classes=4, weight_scale=0.4, dtype=dtype)
    built = [
        ("two_layer", TwoLayerNet(input_dim=18, hidden_dim=7, reg=0.1, weight_seed=1, **common)),
        ("fc_batchnorm_dropout", FullyConnectedNet(
            [7, 6], input_dim=18, normalization="batchnorm", dropout_keep_ratio=0.6,
            reg=0.05, seed=2, weight_seed=2, **common)),
        ("fc_layernorm_dropout", FullyConnectedNet(
            [7, 6], input_dim=18, normalization="layernorm", dropout_keep_ratio=0.8,
            reg=0.05, seed=3, weight_seed=3, **common)),
        ("three_layer_convnet", ThreeLayerConvNet(
            input_dim=(2, 4, 4), num_filters=3, filter_size=3, hidden_dim=6, reg=0.02,
            weight_seed=4, **common)),
    ]
    cases = []
    for name, model in built:
        for key, value in model.params.items():
            # Random biases, gammas and betas too: zeros and ones would hide a swapped or
            # dropped parameter.
            model.params[key] = (value + 0.3 * rng.standard_normal(value.shape)).astype(dtype)
        for bn_param in getattr(model, "bn_params", []):
            if model.normalization == "batchnorm":
                width = model.params["gamma1" if bn_param is model.bn_params[0] else "gamma2"]
                bn_param["running_mean"] = rng.standard_normal(width.shape).astype(dtype)
                bn_param["running_var"] = rng.uniform(0.5, 2, width.shape).astype(dtype)
                bn_param["momentum"] = 0.8
        X = rng.standard_normal((5, 2, 3, 3) if "conv" not in name else (5, 2, 4, 4))
        cases.append((name, model, X.astype(dtype), rng.integers(0, 4, 5)))
    return cases


def gatelab_eval(model, X, y):
    """Scores, loss and gradients of `model` in test mode (gatelab's loss(X, y) trains)."""
    for param in model.mode_params:
        param["mode"] = "test"
    scores = model.net.forward(x=X)
    data_loss, dscores = softmax_loss(scores, y)
    grads = model.net.backward(dscores)
    del grads["x"]
    loss = data_loss + 0.5 * model.reg * sum(np.sum(model.params[w] ** 2)
                                             for w in model.weights)
    for w in model.weights:
        grads[w] = grads[w] + model.reg * model.params[w]
    return scores, loss, grads


def torch_run(torch, net, X, y):
    """Scores, loss and gradients (gatelab's names and layouts) of the exported net."""
    net.zero_grad()
    scores = net(torch.from_numpy(X))   # one forward: batch norm updates its statistics once
    loss = net.data_loss(scores, torch.from_numpy(y)) + net.regularization()
    loss.backward()
    return scores.detach().numpy(), float(loss.detach()), net.gatelab_grads()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_models_in_eval_mode(torch, dtype):
    for name, model, X, y in models(dtype):
        net = to_torch(model).eval()
        scores, loss, grads = torch_run(torch, net, X, y)
        expected_scores, expected_loss, expected_grads = gatelab_eval(model, X, y)
        assert scores.dtype == np.dtype(dtype), name
        assert_close(scores, expected_scores, dtype)
        assert_close(loss, expected_loss, dtype)
        assert_grads_close(grads, expected_grads, dtype)
        assert_close(scores, model.loss(X), dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_models_in_train_mode(torch, dtype):
    for name, model, X, y in models(dtype):
        net = to_torch(model).train()
        hooked = with_gatelab_masks(torch, net, getattr(model, "dropout_param", {}))
        assert hooked == (2 if "dropout" in name else 0)
        # The torch forward first: gatelab's train step then moves its running statistics.
        scores, loss, grads = torch_run(torch, net, X, y)
        expected_loss, expected_grads = model.loss(X, y)
        assert_close(scores, model.net.value(model.net.scores), dtype)
        assert_close(loss, expected_loss, dtype)
        assert_grads_close(grads, expected_grads, dtype)


def test_parameters_are_copies_in_torchs_layouts(torch):
    model = ThreeLayerConvNet(input_dim=(2, 4, 4), num_filters=3, filter_size=3,
                              hidden_dim=5, num_classes=4, weight_seed=0)
    net = to_torch(model)
    assert np.array_equal(net.layers.conv1.weight.detach().numpy(), model.params["W1"])
    assert np.array_equal(net.layers.affine1.weight.detach().numpy(), model.params["W2"].T)
    assert net.layers.affine1.weight.shape == (5, 3 * 2 * 2)
    back = net.gatelab_params()
    assert set(back) == set(model.params)
    assert all(np.array_equal(back[k], model.params[k]) and back[k].dtype == v.dtype
               for k, v in model.params.items())
    with torch.no_grad():
        net.layers.affine1.weight.zero_()
    assert model.params["W2"].any()   # the export copied the weights


def test_training_continues_in_torch_with_the_same_step(torch):
    """One SGD step in torch is gatelab's step on the exported weights."""
    name, model, X, y = models("float64")[1]
    net = to_torch(model)
    with_gatelab_masks(torch, net, model.dropout_param)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    _, _, grads = torch_run(torch, net, X, y)
    optimizer.step()
    _, expected_grads = model.loss(X, y)
    stepped = net.gatelab_params()
    scale = max(float(np.max(np.abs(v))) for v in model.params.values())
    for key, value in model.params.items():
        assert_close(stepped[key], value - 0.1 * expected_grads[key], "float64", scale)


def test_batchnorm_running_statistics_follow_the_documented_mapping(torch):
    name, model, X, y = models("float64")[1]
    m = model.bn_params[0]["momentum"]
    net = to_torch(model).train()
    bn = net.layers.batchnorm1
    assert bn.momentum == pytest.approx(1 - m, abs=1e-15)
    assert np.array_equal(bn.running_mean.numpy(), model.bn_params[0]["running_mean"])
    assert np.array_equal(bn.running_var.numpy(), model.bn_params[0]["running_var"])
    seen = []
    bn.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    with_gatelab_masks(torch, net, model.dropout_param)
    torch_run(torch, net, X, y)
    model.loss(X, y)
    batch = seen[0].numpy()
    n = batch.shape[0]
    # The mean follows the same update; torch's variance update uses the unbiased batch
    # variance, which adds (1 - m) * var / (N - 1).
    assert_close(bn.running_mean.numpy(), model.bn_params[0]["running_mean"], "float64")
    assert_close(bn.running_var.numpy(),
                 model.bn_params[0]["running_var"] + (1 - m) * batch.var(axis=0) / (n - 1),
                 "float64")


def test_dropout_keep_probability_maps_to_torchs_drop_probability(torch):
    keep = 0.7
    model = FullyConnectedNet([5], input_dim=4, num_classes=3, dropout_keep_ratio=keep,
                              seed=0, weight_seed=0)
    net = to_torch(model).train()
    dropout = net.layers.dropout1
    assert isinstance(dropout, torch.nn.Dropout)
    assert dropout.p == pytest.approx(1 - keep, abs=1e-15)
    torch.manual_seed(0)
    out = dropout(torch.ones(100_000, dtype=torch.float64)).numpy()
    kept = out != 0
    # The same scaling as gatelab's inverted dropout: kept units are divided by keep.
    np.testing.assert_allclose(out[kept], 1 / keep, rtol=1e-15)
    # Binomial(1e5, 0.7): standard deviation 0.0014 of the fraction kept.
    assert abs(kept.mean() - keep) < 0.006
    assert np.array_equal(dropout.eval()(torch.ones(3, dtype=torch.float64)).numpy(),
                          np.ones(3))


# --- running statistics, both ways -----------------------------------------------------------

class Trainee:
    """A model or Sequential with batch norm: gatelab's train steps and test-mode scores."""

    def __init__(self, model, graph, bn_params):
        self.model, self.graph, self.bn_params = model, graph, bn_params

    def sgd_steps(self, batches, lr=0.1):
        for X, y in batches:
            for bn_param in self.bn_params:
                bn_param["mode"] = "train"
            self.graph.forward(**self.feeds(X, y))
            grads = self.graph.backward(np.ones(())) if self.graph is self.model \
                else self.graph.backward(softmax_loss(self.graph.value(self.graph.scores),
                                                      y)[1])
            for name in self.graph.params:
                self.graph.params[name] = self.graph.params[name] - lr * grads[name]

    def scores(self, X):
        for bn_param in self.bn_params:
            bn_param["mode"] = "test"
        self.graph.forward(**self.feeds(X, np.zeros(len(X), int)))
        return self.graph.value(self.graph.scores)

    def feeds(self, X, y):
        return {"x": X, "y": y} if self.graph is self.model else {"x": X}

    def running_stats(self):
        return [(p["running_mean"], p["running_var"]) for p in self.bn_params]


def fc_batchnorm(weight_seed=0):
    model = FullyConnectedNet([7, 6], input_dim=5, num_classes=3, normalization="batchnorm",
                              weight_scale=0.5, weight_seed=weight_seed)
    for bn_param in model.bn_params:
        bn_param["momentum"] = 0.7
    return Trainee(model, model.net, model.bn_params), (5,)


def conv_spatial_batchnorm(weight_seed=0):
    rng = np.random.default_rng(weight_seed)

    def w(*shape):
        return 0.5 * rng.standard_normal(shape)

    bn_params = [{"mode": "train", "momentum": 0.7}, {"mode": "train"}]
    seq = Sequential(
        ("conv", {"W1": w(3, 2, 3, 3), "b1": w(3)}, {"conv_param": {"stride": 1, "pad": 1}}),
        ("spatial_batchnorm", {"gamma1": 1 + w(3), "beta1": w(3)},
         {"bn_param": bn_params[0]}),
        "relu",
        ("conv_bn_relu", {"W2": w(4, 3, 3, 3), "b2": w(4), "gamma2": 1 + w(4),
                          "beta2": w(4)},
         {"conv_param": {"stride": 2, "pad": 1}, "bn_param": bn_params[1]}),
        ("affine", {"W3": w(4 * 4 * 4, 3), "b3": w(3)}),
        loss="softmax_loss")
    return Trainee(seq, seq, bn_params), (2, 7, 7)


def batches(shape, count, seed):
    """Batches of inputs far from mean 0 and variance 1: the running statistics move far
    from their starting zeros, so that dropping them would change the scores by orders of
    magnitude."""
    rng = np.random.default_rng(seed)
    return [(3 * rng.standard_normal((8, *shape)) + 2, rng.integers(0, 3, 8))
            for _ in range(count)]


def torch_sgd_steps(torch, net, steps, lr=0.1):
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    net.train()
    for X, y in steps:
        optimizer.zero_grad()
        net.loss(torch.from_numpy(X), torch.from_numpy(y)).backward()
        optimizer.step()


def torch_scores(torch, net, X):
    with torch.no_grad():
        return net.eval()(torch.from_numpy(X)).numpy()


@pytest.mark.parametrize("build", [fc_batchnorm, conv_spatial_batchnorm])
def test_eval_scores_agree_after_training_on_either_side(torch, build):
    trainee, shape = build()
    X = batches(shape, 1, seed=9)[0][0]
    # Trained in gatelab, then exported: torch's eval mode uses gatelab's statistics.
    trainee.sgd_steps(batches(shape, 3, seed=1))
    net = to_torch(trainee.model)
    expected = trainee.scores(X)
    assert_close(torch_scores(torch, net, X), expected, "float64")
    # Trained on in torch, then brought back: gatelab's test mode uses torch's statistics.
    torch_sgd_steps(torch, net, batches(shape, 3, seed=2))
    before = trainee.running_stats()
    assert net.load_into(trainee.model) is trainee.model
    scores = torch_scores(torch, net, X)
    assert_close(trainee.scores(X), scores, "float64")
    assert not np.allclose(trainee.scores(X), expected, rtol=1e-3)
    stats = net.gatelab_running_stats()
    gates = [g for g in trainee.graph._structure() if g.layer.endswith("batchnorm")
             or g.layer == "conv_bn_relu"]
    assert list(stats) == [g.name for g in gates]
    for (mean, var), (old_mean, old_var), gate in zip(trainee.running_stats(), before, gates,
                                                      strict=True):
        module = net.layers.get_submodule(net.running[gate.name][0])
        assert np.array_equal(mean, module.running_mean.numpy()) and mean.dtype == np.float64
        assert np.array_equal(var, module.running_var.numpy()) and var.dtype == np.float64
        assert np.array_equal(stats[gate.name]["running_var"], var)
        assert not np.allclose(mean, old_mean, rtol=1e-3)
        assert not np.allclose(var, old_var, rtol=1e-3)


@pytest.mark.parametrize("build", [fc_batchnorm, conv_spatial_batchnorm])
def test_a_fresh_model_loaded_from_torch_scores_as_torch_does(torch, build):
    trained, shape = build(weight_seed=0)
    net = to_torch(trained.model)
    torch_sgd_steps(torch, net, batches(shape, 4, seed=3))
    fresh, _ = build(weight_seed=5)
    X = batches(shape, 1, seed=4)[0][0]
    net.load_into(fresh.model)
    assert_close(fresh.scores(X), torch_scores(torch, net, X), "float64")
    for name, value in net.gatelab_params().items():
        assert np.array_equal(fresh.graph.params[name], value)
    # The scores need the running statistics: with the weights alone they are far off.
    weights_only, _ = build(weight_seed=5)
    weights_only.graph.params.update(net.gatelab_params())
    off = weights_only.scores(X)
    assert np.max(np.abs(off)) > 10 * np.max(np.abs(torch_scores(torch, net, X)))


def test_a_round_trip_without_training_changes_nothing(torch):
    trainee, shape = fc_batchnorm()
    trainee.sgd_steps(batches(shape, 2, seed=6))
    params = dict(trainee.graph.params)
    stats = trainee.running_stats()
    fresh, _ = fc_batchnorm(weight_seed=8)
    to_torch(trainee.model).load_into(fresh.model)
    assert all(np.array_equal(fresh.graph.params[k], v) and fresh.graph.params[k].dtype
               == v.dtype for k, v in params.items())
    for (mean, var), (old_mean, old_var) in zip(fresh.running_stats(), stats, strict=True):
        assert np.array_equal(mean, old_mean) and np.array_equal(var, old_var)


def test_float64_running_statistics_of_a_float32_model_stay_float64(torch):
    model = FullyConnectedNet([4], input_dim=3, num_classes=2, normalization="batchnorm",
                              dtype=np.float32, weight_seed=0)
    model.bn_params[0].update(running_mean=np.full(4, 0.25), running_var=np.full(4, 2.0))
    net = to_torch(model)
    assert net.layers.batchnorm1.running_var.dtype == torch.float32
    net.load_into(model)
    assert model.bn_params[0]["running_var"].dtype == np.float64
    assert np.array_equal(model.bn_params[0]["running_var"], np.full(4, 2.0))


def test_loading_into_a_model_built_otherwise_is_refused_and_changes_nothing(torch):
    trainee, _ = fc_batchnorm()
    net = to_torch(trainee.model)
    wider = FullyConnectedNet([8, 6], input_dim=5, num_classes=3, normalization="batchnorm",
                              weight_seed=0)
    before = {k: v.copy() for k, v in wider.params.items()}
    with pytest.raises(ValueError, match=r"TorchNet.load_into: param 'W1' of the model must "
                                         r"be a float64 array of shape \(5, 7\), as "
                                         r"exported; got float64 array of shape \(5, 8\)"):
        net.load_into(wider)
    assert all(np.array_equal(wider.params[k], v) for k, v in before.items())
    assert "running_mean" not in wider.bn_params[0]
    layernorm = FullyConnectedNet([7, 6], input_dim=5, num_classes=3,
                                  normalization="layernorm", weight_seed=0)
    with pytest.raises(ValueError, match=r"TorchNet.load_into: model must have a gate "
                                         r"'batchnorm1' with a dict bn_param, as the "
                                         r"exported 'fully_connected_net' has; got no such "
                                         r"gate"):
        net.load_into(layernorm)
    plain = FullyConnectedNet([7, 6], input_dim=5, num_classes=3, weight_seed=0)
    with pytest.raises(ValueError, match=r"TorchNet.load_into: model must be built as the "
                                         r"exported 'fully_connected_net', with the params "
                                         r"\['W1', 'W2', 'W3', 'b1'"):
        net.load_into(plain)
    with pytest.raises(TypeError, match="TorchNet.load_into: model must be a TwoLayerNet"):
        net.load_into(trainee.graph.params)


# --- Sequentials of the other layers ------------------------------------------------------------

def sequentials(dtype):
    """(name, Sequential, feeds, dicts with a 'mode', dropout_param or None)."""
    rng = np.random.default_rng(7)

    def w(*shape, scale=0.5):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    def positive(*shape):
        return rng.uniform(0.5, 1.5, shape).astype(dtype)

    bn2d = {"mode": "train", "momentum": 0.7, "running_mean": w(3),
            "running_var": positive(3)}
    spatial = Sequential(
        ("conv", {"Wc": w(3, 2, 3, 3), "bc": w(3)}, {"conv_param": {"stride": 1, "pad": 1}}),
        ("spatial_batchnorm", {"g1": positive(3), "be1": w(3)}, {"bn_param": bn2d}),
        ("leaky_relu", {}, {"alpha": 0.1}),
        ("avg_pool", {}, {"pool_param": {"pool_height": 2, "pool_width": 2, "stride": 2}}),
        ("affine_relu", {"Wa": w(27, 6), "ba": w(6)}),
        ("layernorm", {"g2": positive(6), "be2": w(6)}, {"ln_param": {"eps": 1e-4}}),
        "gelu",
        ("affine", {"Wo": w(6, 4), "bo": w(4)}),
        loss="softmax_loss")
    bn_relu = {"mode": "train"}
    grouped = Sequential(
        ("conv_bn_relu", {"Wc": w(4, 2, 3, 3), "bc": w(4), "g1": positive(4), "be1": w(4)},
         {"conv_param": {"stride": 2, "pad": 1}, "bn_param": bn_relu}),
        ("spatial_groupnorm", {"g2": positive(1, 4, 1, 1), "be2": w(1, 4, 1, 1)},
         {"G": 2, "gn_param": {}}),
        ("elu", {}, {"alpha": 0.7}),
        ("conv_relu", {"We": w(4, 4, 1, 1), "be": w(4)}, {"conv_param": {"stride": 1,
                                                                      "pad": 0}}),
        ("conv_relu_pool", {"Wd": w(4, 4, 2, 2), "bd": w(4)},
         {"conv_param": {"stride": 1, "pad": 0, "dilation": 1},
          "pool_param": {"pool_height": 2, "pool_width": 2, "stride": 2}}),
        "global_avg_pool",
        ("affine", {"Wo": w(4, 5), "bo": w(5)}),
        loss="svm_loss")
    smooth = Sequential(
        ("affine", {"W1": w(5, 6), "b1": w(6)}), "sigmoid",
        ("affine", {"W2": w(6, 6), "b2": w(6)}), "tanh",
        ("affine", {"W3": w(6, 6), "b3": w(6)}), "silu",
        ("affine", {"W4": w(6, 6), "b4": w(6)}), "gelu_tanh",
        ("affine", {"W5": w(6, 3), "b5": w(3)}),
        loss="sigmoid_cross_entropy_loss")
    dropout = {"mode": "train", "p": 0.6, "seed": 3}
    bn1d = {"mode": "train", "running_mean": w(5), "running_var": positive(5)}
    naive = Sequential(
        ("conv_naive", {"Wc": w(2, 2, 3, 3), "bc": w(2)},
         {"conv_param": {"stride": 1, "pad": 0}}),
        "relu",
        ("max_pool_naive", {}, {"pool_param": {"pool_height": 2, "pool_width": 2,
                                               "stride": 2}}),
        ("affine", {"W1": w(16, 5), "b1": w(5)}),
        ("batchnorm", {"g1": positive(5), "be1": w(5)}, {"bn_param": bn1d}),
        "relu",
        ("dropout", {}, {"dropout_param": dropout}),
        ("affine", {"W2": w(5, 3), "b2": w(3)}),
        loss="mse_loss")
    return [
        ("spatial", spatial, {"x": w(4, 2, 6, 6, scale=1), "y": rng.integers(0, 4, 4)},
         [bn2d], None),
        ("grouped", grouped, {"x": w(3, 2, 9, 9, scale=1), "y": rng.integers(0, 5, 3)},
         [bn_relu], None),
        ("smooth", smooth,
         {"x": w(4, 5, scale=1), "y": rng.uniform(0, 1, (4, 3)).astype(dtype)},
         [], None),
        ("naive", naive, {"x": w(4, 2, 6, 10, scale=1), "y": w(4, 3, scale=1)},
         [bn1d, dropout], dropout),
    ]


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sequentials_of_every_mapped_layer(torch, dtype, mode):
    for name, seq, feeds, mode_params, dropout_param in sequentials(dtype):
        net = to_torch(seq).train(mode == "train")
        if dropout_param is not None and mode == "train":
            with_gatelab_masks(torch, net, dropout_param)
        x = torch.from_numpy(feeds["x"]).requires_grad_(True)
        y = torch.from_numpy(feeds["y"])
        # mse_loss's targets get a gradient; sigmoid cross-entropy's soft targets are
        # data (gatelab's graph gives them zeros), labels are integers.
        y.requires_grad_(name == "naive")
        scores = net(x)
        loss = net.data_loss(scores, y) + net.regularization()
        loss.backward()
        assert_close(float(loss.detach()), float(net.loss(x, y).detach()), dtype)
        for param in mode_params:
            param["mode"] = "train" if mode == "train" else "test"
        expected_loss = seq.forward(**feeds)
        expected = seq.backward()
        assert_close(scores.detach().numpy(), seq.value(seq.scores), dtype)
        assert_close(float(loss.detach()), expected_loss, dtype)
        grads = net.gatelab_grads()
        grads["x"] = x.grad.numpy()
        if y.requires_grad:
            grads["y"] = y.grad.numpy()
        elif y.is_floating_point():
            grads["y"] = np.zeros(tuple(y.shape), dtype)
        assert_grads_close(grads, expected, dtype)


def test_every_mapped_layer_is_in_a_test_sequential(torch):
    from training.torch_export import _BUILDERS

    used = {gate.layer for _, seq, *_ in sequentials("float64") for gate in seq._gates}
    used |= {"affine", "relu", "conv", "max_pool"}   # the models' layers
    assert set(_BUILDERS) <= used


# --- what the export refuses -------------------------------------------------------------------

def test_a_layer_without_a_torch_counterpart_is_named(torch):
    seq = Sequential(("affine", {"W": np.ones((3, 2)), "b": np.zeros(2)}), "softplus")
    with pytest.raises(ValueError, match=r"to_torch: gate 'softplus1' \(softplus\) has no "
                                         r"torch counterpart in the export; the layers it "
                                         r"maps are affine, affine_relu"):
        to_torch(seq)


def test_a_pair_of_ones_own_is_refused_even_under_a_known_name(torch):
    def relu_forward(x):
        return np.maximum(x, 0), x

    def relu_backward(dout, x):
        return dout * (x > 0)

    with pytest.raises(ValueError, match=r"gate 'relu1' \(relu\) has no torch counterpart"):
        to_torch(Sequential((relu_forward, relu_backward)))


def test_other_objects_are_refused(torch):
    with pytest.raises(TypeError, match="to_torch: model must be a TwoLayerNet, "
                                        "FullyConnectedNet, ThreeLayerConvNet or "
                                        "graph.Sequential; got dict"):
        to_torch({"W1": np.ones(3)})


def test_a_sequential_without_loss_has_no_torch_loss(torch):
    net = to_torch(Sequential(("affine", {"W": np.ones((3, 2)), "b": np.zeros(2)})))
    with pytest.raises(ValueError, match="TorchNet.loss: the exported graph 'sequential' "
                                         "has no loss layer"):
        net.loss(torch.ones(1, 3, dtype=torch.float64), torch.zeros(1))


def test_without_torch_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModuleNotFoundError, match=r"to_torch .*pip install torch"):
        to_torch(TwoLayerNet(input_dim=3, hidden_dim=2, num_classes=2, weight_seed=0))
