"""Transposed convolution: the adjoint of conv, values by hand, bad input."""

import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from layers.conv import conv_backward, conv_forward
from layers.conv_transpose import conv_transpose_backward, conv_transpose_forward


@st.composite
def problems(draw):
    n, f, c = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    hi, wi = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    # The largest pad that leaves an output of at least 1 x 1.
    largest = min((size - 1) * stride + dilation * (k - 1)
                  for size, k in ((hi, kh), (wi, kw))) // 2
    pad = draw(st.integers(0, largest))
    conv_param = {"stride": stride, "pad": pad, "dilation": dilation}
    return (n, f, hi, wi), (f, c, kh, kw), conv_param, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=60, deadline=None)
@given(problems())
def test_adjoint_of_conv(problem):
    """<conv(z), x> == <z, conv_transpose(x)> for the same w, without biases."""
    x_shape, w_shape, conv_param, seed = problem
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y, _ = conv_transpose_forward(x, w, np.zeros(w_shape[1]), conv_param)
    z = rng.standard_normal(y.shape)
    conv_z, _ = conv_forward(z, w, np.zeros(w_shape[0]), conv_param)
    assert conv_z.shape == x.shape
    left, right = np.vdot(conv_z, x), np.vdot(z, y)
    scale = np.vdot(np.abs(conv_z), np.abs(x))
    assert abs(left - right) <= 1e-13 * scale


def test_forward_is_conv_input_gradient_and_backward_is_conv(rng):
    """The pair's three maps are conv's: out = conv's dx, dx = conv's out, dw = conv's dw."""
    param = {"stride": 2, "pad": 1}
    z = rng.standard_normal((2, 3, 7, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(3)
    x_conv, conv_cache = conv_forward(z, w, np.zeros(4), param)
    x = rng.standard_normal(x_conv.shape)
    out, cache = conv_transpose_forward(x, w, b, param)
    conv_dz, conv_dw, _ = conv_backward(x, conv_cache)
    np.testing.assert_allclose(out, conv_dz + b[:, None, None], rtol=1e-13, atol=1e-13)
    dx, dw, db = conv_transpose_backward(z, cache)
    np.testing.assert_allclose(dx, x_conv, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dw, conv_dw, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(db, z.sum(axis=(0, 2, 3)), rtol=1e-13)


def test_values_by_hand():
    x = np.array([[[[1.0, 2.0]]]])
    w = np.array([[[[1.0, 10.0]]]])
    # Stride 2: each input stamps [1, 10] times itself at 2 j.
    out, _ = conv_transpose_forward(x, w, np.array([0.5]), {"stride": 2, "pad": 0})
    np.testing.assert_array_equal(out, [[[[1.5, 10.5, 2.5, 20.5]]]])
    # Stride 1: the stamps overlap and add.
    out, _ = conv_transpose_forward(x, w, np.zeros(1), {"stride": 1, "pad": 0})
    np.testing.assert_array_equal(out, [[[[1.0, 10.0 + 2.0, 20.0]]]])
    # pad 1 crops one position on every side: a 3x3 stamp of one input keeps its centre.
    out, _ = conv_transpose_forward(np.array([[[[3.0]]]]), np.arange(9.0).reshape(1, 1, 3, 3),
                                    np.zeros(1), {"stride": 1, "pad": 1})
    np.testing.assert_array_equal(out, [[[[3.0 * 4.0]]]])


def test_output_size_and_dtype():
    x = np.zeros((2, 4, 5, 3), np.float32)
    w = np.zeros((4, 6, 3, 2), np.float32)
    out, cache = conv_transpose_forward(x, w, np.zeros(6, np.float32),
                                        {"stride": 2, "pad": 1, "dilation": 2})
    # H = (5 - 1)*2 - 2*1 + 2*(3 - 1) + 1 = 11; W = (3 - 1)*2 - 2 + 2*(2 - 1) + 1 = 5.
    assert out.shape == (2, 6, 11, 5) and out.dtype == np.float32
    grads = conv_transpose_backward(np.ones_like(out), cache)
    assert [g.shape for g in grads] == [x.shape, w.shape, (6,)]
    assert all(g.dtype == np.float32 for g in grads)


@pytest.mark.parametrize("args, error, message", [
    ((np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 2, 2)), np.zeros(1), {"stride": 1, "pad": 1}),
     ValueError, "the output height (Hi - 1)*stride + dilation*(HH-1) + 1 - 2*pad = "
                 "2 - 2*1 = 0 is < 1: pad is too large"),
    ((np.zeros((1, 2, 3, 3)), np.zeros((3, 1, 2, 2)), np.zeros(1), {"stride": 1, "pad": 0}),
     ValueError,
     "w must have shape (F, C, HH, WW) with F=2 from x; got w.shape = (3, 1, 2, 2)"),
    ((np.zeros((1, 2, 3, 3)), np.zeros((2, 1, 2, 2)), np.zeros(2), {"stride": 1, "pad": 0}),
     ValueError, "b must have shape (C,) with C=1 from w; got b.shape = (2,)"),
    ((np.zeros((1, 2, 3, 3)), np.zeros((2, 1, 2, 2)), np.zeros(1), {"stride": 0, "pad": 0}),
     ValueError, "conv_param['stride'] must be >= 1; got 0"),
    ((np.zeros((1, 2, 3, 3)), np.zeros((2, 1, 2, 2)), np.zeros(1), {"stride": 1}),
     ValueError, "conv_param must have the key 'pad'"),
    ((np.zeros((1, 2, 3, 3)), np.zeros((2, 1, 2, 2)), np.zeros(1),
      {"stride": 1, "pad": 0, "dilaton": 2}),
     ValueError, "conv_param has unexpected key 'dilaton'; allowed keys are 'stride', "
                 "'pad', 'dilation'"),
])
def test_bad_input(args, error, message):
    with pytest.raises(error, match=re.escape(f"conv_transpose_forward: {message}")):
        conv_transpose_forward(*args)
