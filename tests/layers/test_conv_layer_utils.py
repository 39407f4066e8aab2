"""Sandwich layers: each equals its chain of layers, forward and backward."""

import re

import numpy as np
import pytest

from layers import (affine_backward, affine_forward, affine_relu_backward,
                    affine_relu_forward, conv_backward, conv_bn_relu_backward,
                    conv_bn_relu_forward, conv_forward, conv_relu_backward, conv_relu_forward,
                    conv_relu_pool_backward, conv_relu_pool_forward, max_pool_backward,
                    max_pool_forward, relu_backward, relu_forward,
                    spatial_batchnorm_backward, spatial_batchnorm_forward)

CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def conv_inputs(rng):
    return (rng.standard_normal((2, 3, 4, 6)), rng.standard_normal((5, 3, 3, 3)),
            rng.standard_normal(5))


def assert_all_equal(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("composite, layer", [
    ((affine_relu_forward, affine_relu_backward), (affine_forward, affine_backward)),
    ((conv_relu_forward, conv_relu_backward), (conv_forward, conv_backward)),
], ids=["affine_relu", "conv_relu"])
def test_layer_then_relu(composite, layer, rng):
    if layer[0] is affine_forward:
        args = (rng.standard_normal((3, 2, 2)), rng.standard_normal((4, 5)),
                rng.standard_normal(5))
    else:
        args = (*conv_inputs(rng), CONV)
    out, cache = composite[0](*args)
    a, layer_cache = layer[0](*args)
    expected, relu_cache = relu_forward(a)
    np.testing.assert_array_equal(out, expected)
    dout = rng.standard_normal(out.shape)
    assert_all_equal(composite[1](dout, cache),
                     layer[1](relu_backward(dout, relu_cache), layer_cache))


def test_conv_relu_pool_is_conv_relu_then_max_pool(rng):
    x, w, b = conv_inputs(rng)
    out, cache = conv_relu_pool_forward(x, w, b, CONV, POOL)
    a, conv_cache = conv_forward(x, w, b, CONV)
    s, relu_cache = relu_forward(a)
    expected, pool_cache = max_pool_forward(s, POOL)
    np.testing.assert_array_equal(out, expected)
    assert out.shape == (2, 5, 2, 3)
    dout = rng.standard_normal(out.shape)
    ds = relu_backward(max_pool_backward(dout, pool_cache), relu_cache)
    assert_all_equal(conv_relu_pool_backward(dout, cache), conv_backward(ds, conv_cache))


def test_conv_bn_relu_is_conv_batchnorm_relu_and_updates_running_statistics(rng):
    x, w, b = conv_inputs(rng)
    gamma, beta = rng.uniform(0.5, 1.5, 5), rng.standard_normal(5)
    bn_param = {"mode": "train"}
    out, cache = conv_bn_relu_forward(x, w, b, gamma, beta, CONV, bn_param)
    assert bn_param["running_mean"].shape == (5,)
    a, conv_cache = conv_forward(x, w, b, CONV)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, {"mode": "train"})
    expected, relu_cache = relu_forward(an)
    np.testing.assert_array_equal(out, expected)
    dout = rng.standard_normal(out.shape)
    dan, dgamma, dbeta = spatial_batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    assert_all_equal(conv_bn_relu_backward(dout, cache),
                     (*conv_backward(dan, conv_cache), dgamma, dbeta))


# -- bad input: the composite names itself and its own argument, before any work ------------

X, W, B = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4)
BN_ARGS = (np.ones(4), np.zeros(4), CONV, {"mode": "train"})


@pytest.mark.parametrize("forward, args, error, message", [
    (conv_relu_pool_forward, (X, W, B, CONV, {**POOL, "pad": 0}), ValueError,
     "conv_relu_pool_forward: pool_param has unexpected key 'pad'; allowed keys are "
     "'pool_height', 'pool_width', 'stride'"),
    (conv_relu_pool_forward, (X, W, B, CONV, POOL), ValueError,
     "conv_relu_pool_forward: the output height (Ho - pool_height) / stride + 1 = "
     "(5 - 2) / 2 + 1 = 2.5 is not an integer"),
    (conv_relu_pool_forward, (X, W, B, CONV, {"pool_height": 2, "stride": 1}), ValueError,
     "conv_relu_pool_forward: pool_param must have the key 'pool_width'"),
    (conv_relu_pool_forward, (X, W, B, {**CONV, "dilaton": 2}, POOL), ValueError,
     "conv_relu_pool_forward: conv_param has unexpected key 'dilaton'"),
    (conv_bn_relu_forward, (X, W, B, np.ones(3), *BN_ARGS[1:]), ValueError,
     "conv_bn_relu_forward: gamma must have shape (F,) with F=4 from w; got gamma.shape = "
     "(3,)"),
    (conv_bn_relu_forward, (X, W, B, np.ones(4), np.zeros((1, 4)), *BN_ARGS[2:]), ValueError,
     "conv_bn_relu_forward: beta must be a 1-d array of shape (F,); got beta.shape = (1, 4)"),
    (conv_bn_relu_forward, (X, W, B, *BN_ARGS[:3], {"mode": "tran"}), ValueError,
     "conv_bn_relu_forward: bn_param['mode'] must be 'train' or 'test'; got 'tran'"),
    (conv_bn_relu_forward, (X, W, B, *BN_ARGS[:3], {"mode": "test",
                                                     "running_var": np.ones(5)}), ValueError,
     "conv_bn_relu_forward: bn_param['running_var'] must have shape (F,) with F=4 from w; "
     "got bn_param['running_var'].shape = (5,)"),
    (conv_bn_relu_forward, (X, W, B, *BN_ARGS[:3], None), TypeError,
     "conv_bn_relu_forward: bn_param must be a dict; got NoneType"),
])
def test_bad_input_fails_before_the_convolution(forward, args, error, message, monkeypatch):
    def no_conv(*_):
        raise AssertionError("the convolution ran before the arguments were checked")
    monkeypatch.setattr("layers.layer_utils.conv_forward", no_conv)
    with pytest.raises(error, match=re.escape(message)):
        forward(*args)


def test_conv_bn_relu_needs_two_outputs_per_channel_before_any_work():
    from layers import conv_bn_relu_forward

    x = np.ones((1, 1, 3, 3))
    w = np.ones((2, 1, 3, 3))
    with pytest.raises(ValueError, match=r"conv_bn_relu_forward: in train mode batch norm "
                                         r"needs N\*Ho\*Wo >= 2 conv outputs per channel .*"
                                         r"got N\*Ho\*Wo = 1\*1\*1 = 1"):
        conv_bn_relu_forward(x, w, np.zeros(2), np.ones(2), np.zeros(2),
                             {"stride": 1, "pad": 0}, {"mode": "train"})
