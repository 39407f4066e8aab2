"""check_modified=False: a graph whose owner runs backward right after forward skips the
checksums of what forward read; the default still refuses arrays modified in between."""

import numpy as np
import pytest

from graph import ComputationalGraph, Sequential
from training.models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet


def affine_graph(**options):
    g = ComputationalGraph(**options)
    g.gate("affine", g.input("x"), g.param("w", np.ones((3, 2))), g.param("b", np.zeros(2)))
    return g


def test_the_default_graph_refuses_an_input_modified_after_forward():
    g = affine_graph()
    x = np.arange(6.0).reshape(2, 3)
    g.forward(x=x)
    x[0, 0] = 10.0
    with pytest.raises(ValueError, match="input 'x' was modified in place"):
        g.backward(np.ones((2, 2)))


def test_without_the_check_the_same_gradients_come_back():
    x = np.arange(6.0).reshape(2, 3)
    dout = np.array([[1.0, -1.0], [0.5, 2.0]])
    checked, unchecked = affine_graph(), affine_graph(check_modified=False)
    assert checked.check_modified and not unchecked.check_modified
    checked.forward(x=x)
    unchecked.forward(x=x)
    expected = checked.backward(dout)
    got = unchecked.backward(dout)
    assert set(got) == set(expected) == {"x", "w", "b"}
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
    np.testing.assert_array_equal(got["w"], x.T @ dout)


def test_without_the_check_a_modified_input_is_not_refused():
    # The caller vouched for its arrays: backward reads the caches as they are, and the
    # weight gradient is that of the array's new values.
    g = affine_graph(check_modified=False)
    x = np.arange(6.0).reshape(2, 3)
    g.forward(x=x)
    x[0, 0] = 10.0
    np.testing.assert_array_equal(g.backward(np.ones((2, 2)))["w"], x.T @ np.ones((2, 2)))


def test_sequential_passes_the_option_on():
    assert not Sequential("relu", check_modified=False).check_modified
    assert Sequential("relu").check_modified


@pytest.mark.parametrize("model", [
    lambda: TwoLayerNet(input_dim=12, hidden_dim=5, num_classes=3, weight_seed=0),
    lambda: FullyConnectedNet([5, 4], input_dim=12, num_classes=3,
                              normalization="batchnorm", weight_seed=0),
    lambda: ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=2, filter_size=3,
                              hidden_dim=5, num_classes=3, weight_seed=0),
])
def test_the_models_run_their_graph_unchecked(model):
    assert not model().net.check_modified
