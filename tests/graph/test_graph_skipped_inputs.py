"""``backward(inputs=False)``: only the params' gradients, equal to those of a full
backward, with the data's gradient skipped by the first layer (no col2im, no dx product),
and the contract's `skipping_gradients` scoped to the one backward call."""

import numpy as np
import pytest

from graph import ComputationalGraph
from graph.sequential import Sequential
from layers import conv as conv_module
from layers import relu_backward, relu_forward, softmax_loss
from layers.contract import gradient_skipped, skipping_gradients
from training.models import FullyConnectedNet, ThreeLayerConvNet


def test_skipping_is_scoped_to_its_block_even_on_an_error():
    assert not gradient_skipped("x")
    with pytest.raises(RuntimeError):
        with skipping_gradients(["x"]):
            assert gradient_skipped("x") and not gradient_skipped("w")
            raise RuntimeError
    assert not gradient_skipped("x")


def conv_net(dtype):
    rng = np.random.default_rng(0)
    net = Sequential(
        ("conv", {"w": (0.1 * rng.standard_normal((4, 3, 3, 3))).astype(dtype),
                  "b": rng.standard_normal(4).astype(dtype)},
         {"conv_param": {"stride": 1, "pad": 1}}),
        "relu",
        ("affine", {"W": (0.1 * rng.standard_normal((4 * 6 * 6, 5))).astype(dtype),
                    "b2": np.zeros(5, dtype)}))
    x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    dout = rng.standard_normal((2, 5)).astype(dtype)
    return net, x, dout


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_params_gradients_are_those_of_a_full_backward(dtype):
    net, x, dout = conv_net(dtype)
    net.forward(x=x)
    full = net.backward(dout)
    net.forward(x=x)
    params_only = net.backward(dout, inputs=False)
    assert set(full) - set(params_only) == {"x"}
    for name, grad in params_only.items():
        np.testing.assert_array_equal(grad, full[name])
    assert net.grad("x") is None


def test_the_first_conv_does_no_work_for_the_data_gradient(monkeypatch):
    net, x, dout = conv_net(np.float64)
    net.forward(x=x)
    full = net.backward(dout)

    def refused(*args):
        raise AssertionError("col2im ran for a gradient nobody wants")
    monkeypatch.setattr(conv_module.Im2col, "add_columns", refused)
    net.forward(x=x)
    params_only = net.backward(dout, inputs=False)
    np.testing.assert_array_equal(params_only["w"], full["w"])
    with pytest.raises(AssertionError, match="col2im ran"):
        net.forward(x=x)
        net.backward(dout)


def test_a_layer_that_ignores_the_hint_still_gives_the_params_gradients():
    seen = []

    def scale_forward(x, s):
        return x * s, (x, s)

    def scale_backward(dout, cache):
        x, s = cache
        seen.append(gradient_skipped("x"))
        return dout * s, np.sum(dout * x)

    g = ComputationalGraph()
    x, s = g.input("x"), g.param("s", np.array(2.0))
    h = g.gate((scale_forward, scale_backward), x, s)
    g.gate((relu_forward, relu_backward), h)
    g.forward(x=np.array([1.0, -3.0]))
    grads = g.backward(np.ones(2), inputs=False)
    assert seen == [True] and set(grads) == {"s"}
    np.testing.assert_allclose(grads["s"], 1.0)


@pytest.mark.parametrize("make", [
    lambda: ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3,
                              hidden_dim=6, num_classes=3, weight_scale=0.1, reg=0.1,
                              weight_seed=0),
    lambda: FullyConnectedNet([6, 5], input_dim=12, num_classes=3, reg=0.1,
                              normalization="batchnorm", weight_scale=0.1,
                              weight_seed=0)])
def test_models_get_the_params_gradients_of_a_full_backward(make):
    model = make()
    rng = np.random.default_rng(1)
    shape = (4, 3, 8, 8) if isinstance(model, ThreeLayerConvNet) else (4, 12)
    X, y = rng.standard_normal(shape), rng.integers(0, 3, 4)
    loss, grads = model.loss(X, y)
    assert "x" not in grads
    # The same step through a full backward of the same graph.
    for param in model.mode_params:
        param["mode"] = "train"
    scores = model.net.forward(x=np.asarray(X, model.dtype))
    _, dscores = softmax_loss(scores, y)
    reference = model.net.backward(dscores)
    assert set(reference) - set(grads) == {"x"}
    for name, grad in grads.items():
        expected = reference[name] + (model.reg * model.params[name]
                                      if name in model.weights else 0)
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-15)
