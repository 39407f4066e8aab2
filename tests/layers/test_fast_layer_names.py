"""CS231n's other fast conv and pool functions (fast_layers.py): conv by strides and by
im2col, max pool by reshape and by im2col; values, caches and refusals by name."""

import re

import numpy as np
import pytest

from layers import (
    conv_backward, conv_backward_im2col, conv_backward_strides, conv_forward,
    conv_forward_im2col, conv_forward_strides, max_pool_backward, max_pool_backward_im2col,
    max_pool_backward_reshape, max_pool_forward, max_pool_forward_im2col,
    max_pool_forward_reshape,
)

CONV_PARAM = {"stride": 2, "pad": 1}
POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}


def conv_inputs():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)),
            rng.standard_normal(4), rng.standard_normal((2, 4, 4, 4)))


@pytest.mark.parametrize("forward, backward", [
    (conv_forward_strides, conv_backward_strides), (conv_forward_im2col, conv_backward_im2col)])
def test_lowered_convolutions_are_conv_forward_under_cs231ns_names(forward, backward):
    x, w, b, dout = conv_inputs()
    out, cache = forward(x, w, b, CONV_PARAM)
    expected, expected_cache = conv_forward(x, w, b, CONV_PARAM)
    np.testing.assert_array_equal(out, expected)
    for grad, want in zip(backward(dout, cache), conv_backward(dout, expected_cache),
                          strict=True):
        np.testing.assert_array_equal(grad, want)


def test_lowered_convolutions_refuse_under_the_name_called():
    x, w, b, dout = conv_inputs()
    with pytest.raises(ValueError, match=r"^conv_forward_strides: w must have shape "):
        conv_forward_strides(x, w[:, :2], b, CONV_PARAM)
    with pytest.raises(ValueError, match=r"^conv_forward_im2col: conv_param has unexpected "):
        conv_forward_im2col(x, w, b, {**CONV_PARAM, "padding": 1})
    _, cache = conv_forward_im2col(x, w, b, CONV_PARAM)
    with pytest.raises(ValueError, match=re.escape(
            "conv_backward_im2col: dout must have the shape of the forward output "
            "(2, 4, 4, 4); got dout.shape = (2, 4, 3, 3)")):
        conv_backward_im2col(dout[:, :, :3, :3], cache)
    with pytest.raises(ValueError, match=r"^conv_backward_strides: cache must be the cache "
                       r"returned by conv_forward_strides; got the cache of conv_forward_im2col"):
        conv_backward_strides(dout, cache)


def distinct(rng, shape):
    """Values a fixed step apart, in random order: no ties in any window."""
    return (0.1 * rng.permutation(int(np.prod(shape))) - 1.0).reshape(shape)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_max_pool_reshape_matches_torch_float64(size):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(size)
    x = distinct(rng, (2, 3, 3 * size, 2 * size))
    pool_param = {"pool_height": size, "pool_width": size, "stride": size}
    out, cache = max_pool_forward_reshape(x, pool_param)
    dout = rng.standard_normal(out.shape)
    tx = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.max_pool2d(tx, size, size)
    (expected * torch.tensor(dout)).sum().backward()
    np.testing.assert_array_equal(out, expected.detach().numpy())
    np.testing.assert_array_equal(max_pool_backward_reshape(dout, cache), tx.grad.numpy())


def test_max_pool_reshape_gives_a_tie_to_the_first_maximum_as_every_pool_here():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    out, cache = max_pool_forward_reshape(x, POOL_PARAM)
    dx = max_pool_backward_reshape(np.array([[[[2.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0.0, 2.0], [0.0, 0.0]]]])
    _, fast_cache = max_pool_forward(x, POOL_PARAM)
    np.testing.assert_array_equal(dx, max_pool_backward(np.array([[[[2.0]]]]), fast_cache))


def test_max_pool_im2col_is_max_pool_forward_under_its_name():
    rng = np.random.default_rng(4)
    x = distinct(rng, (2, 2, 5, 7))
    pool_param = {"pool_height": 3, "pool_width": 3, "stride": 2}
    out, cache = max_pool_forward_im2col(x, pool_param)
    expected, expected_cache = max_pool_forward(x, pool_param)
    np.testing.assert_array_equal(out, expected)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(max_pool_backward_im2col(dout, cache),
                                  max_pool_backward(dout, expected_cache))
    with pytest.raises(ValueError, match=r"^max_pool_forward_im2col: "):
        max_pool_forward_im2col(x, {"pool_height": 2, "pool_width": 2, "stride": 2})


def test_max_pool_reshape_leaves_x_alone_and_keeps_float32():
    x = distinct(np.random.default_rng(5), (1, 2, 4, 4)).astype(np.float32)
    saved = x.copy()
    out, cache = max_pool_forward_reshape(x, POOL_PARAM)
    dx = max_pool_backward_reshape(np.ones(out.shape, np.float32), cache)
    assert out.dtype == dx.dtype == np.float32
    np.testing.assert_array_equal(x, saved)
