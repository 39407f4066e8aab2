"""Convolution: values by hand, fast == naive on random geometries, bad input."""

import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import layers
from layers import conv, scratch
from layers.conv import (conv_backward, conv_backward_naive, conv_forward,
                         conv_forward_naive)

PAIRS = {"naive": (conv_forward_naive, conv_backward_naive),
         "fast": (conv_forward, conv_backward)}


def rel_error(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


# -- values by hand -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", PAIRS)
def test_forward_by_hand(kind):
    forward, _ = PAIRS[kind]
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]], [[[0.0, 1.0], [2.0, 0.0]]]])
    b = np.array([0.5, -1.0])
    out, _ = forward(x, w, b, {"stride": 2, "pad": 0})
    # Filter 0 computes x[i, j] - x[i+1, j+1] = -5 everywhere, plus 0.5;
    # filter 1 computes x[i, j+1] + 2 x[i+1, j], minus 1.
    np.testing.assert_array_equal(out[0, 0], [[-4.5, -4.5], [-4.5, -4.5]])
    np.testing.assert_array_equal(out[0, 1], [[1 + 8 - 1, 3 + 12 - 1],
                                              [9 + 24 - 1, 11 + 28 - 1]])


@pytest.mark.parametrize("kind", PAIRS)
def test_padding_and_dilation_by_hand(kind):
    forward, _ = PAIRS[kind]
    x = np.array([[[[1.0, 2.0, 3.0]]]])
    # pad 1 on a 1x3 input: the 3x3 padded rows are [0 0 0 0 0], [0 1 2 3 0], [0 0 0 0 0].
    out, _ = forward(x, np.ones((1, 1, 1, 2)), np.zeros(1), {"stride": 1, "pad": 1})
    np.testing.assert_array_equal(out[0, 0], [[0, 0, 0, 0], [1, 3, 5, 3], [0, 0, 0, 0]])
    # Dilation 2: taps two apart, x[j] + x[j + 2].
    out, _ = forward(x, np.ones((1, 1, 1, 2)), np.zeros(1),
                     {"stride": 1, "pad": 0, "dilation": 2})
    np.testing.assert_array_equal(out, [[[[4.0]]]])


@pytest.mark.parametrize("kind", PAIRS)
def test_backward_by_hand(kind):
    forward, backward = PAIRS[kind]
    x = np.array([[[[1.0, 2.0, 3.0]]]])
    w = np.array([[[[10.0, 20.0]]]])
    _, cache = forward(x, w, np.zeros(1), {"stride": 1, "pad": 0})
    dx, dw, db = backward(np.array([[[[1.0, -1.0]]]]), cache)
    # out0 = 10 x0 + 20 x1, out1 = 10 x1 + 20 x2; dout = [1, -1].
    np.testing.assert_array_equal(dx, [[[[10.0, 20.0 - 10.0, -20.0]]]])
    np.testing.assert_array_equal(dw, [[[[1.0 - 2.0, 2.0 - 3.0]]]])
    np.testing.assert_array_equal(db, [0.0])


def test_cs231n_names_are_aliases_of_the_fast_pair():
    assert layers.conv_forward_fast is conv_forward
    assert layers.conv_backward_fast is conv_backward
    assert layers.conv_forward_naive is conv_forward_naive


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_follows_input(dtype, rng):
    x = rng.standard_normal((2, 3, 5, 5)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    out, cache = conv_forward(x, w, b, {"stride": 1, "pad": 1})
    grads = conv_backward(rng.standard_normal(out.shape).astype(dtype), cache)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)


def test_clear_scratch_frees_the_buffers_kept_between_calls(rng):
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    out, cache = conv_forward(x, w, np.zeros(4), {"stride": 1, "pad": 1})
    conv_backward(np.ones_like(out), cache)
    buffers = scratch.scratch_buffers()
    held = sum(flat.nbytes for flat in buffers.values())
    assert held > 0
    assert layers.clear_scratch() == held
    assert buffers == {} and scratch.scratch_buffers() == {}
    assert layers.clear_scratch() == 0


def test_scratch_kept_stays_under_its_total_limit(rng, monkeypatch):
    # With room for about one buffer, the others are allocated afresh: same results.
    x, w, b = rng.standard_normal((3, 2, 7, 5)), rng.standard_normal((4, 2, 3, 3)), \
        rng.standard_normal(4)
    param = {"stride": 1, "pad": 1}
    out, cache = conv_forward(x, w, b, param)
    grads = conv_backward(np.ones_like(out), cache)
    layers.clear_scratch()
    limit = 2000
    monkeypatch.setattr(scratch, "SCRATCH_TOTAL_LIMIT", limit)
    out_capped, cache = conv_forward(x, w, b, param)
    np.testing.assert_array_equal(out_capped, out)
    for got, expected in zip(conv_backward(np.ones_like(out), cache), grads, strict=True):
        np.testing.assert_array_equal(got, expected)
    kept = scratch.scratch_buffers()
    assert 0 < sum(flat.nbytes for flat in kept.values()) <= limit
    layers.clear_scratch()


def test_chunks_of_the_batch_give_the_same_result(rng, monkeypatch):
    """Many small chunks (one example each, and a last partial one) == one chunk."""
    x = rng.standard_normal((5, 3, 6, 7))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    param = {"stride": 1, "pad": 1}
    dout = rng.standard_normal((5, 4, 6, 8))
    out, cache = conv_forward(x, w, b, param)
    grads = conv_backward(dout, cache)
    windows = cache[2]
    lowering = conv.Im2col(x.shape, windows, x.dtype)
    per_example = lowering.k * lowering.t * x.itemsize
    for chunk_bytes, chunk in ((1, 1), (2 * per_example, 2)):  # chunks 1,1,1,1,1; 2,2,1
        monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
        assert conv.Im2col(x.shape, windows, x.dtype).chunk == chunk
        out_chunked, cache = conv_forward(x, w, b, param)
        np.testing.assert_allclose(out_chunked, out, rtol=1e-13, atol=1e-13)
        for got, expected in zip(conv_backward(dout, cache), grads, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


# -- fast == naive --------------------------------------------------------------------------

@st.composite
def geometries(draw):
    """Small conv problems: any stride, pad, dilation, rectangular inputs and kernels."""
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, pad, dilation = (draw(st.integers(1, 3)), draw(st.integers(0, 2)),
                             draw(st.integers(1, 2)))
    size = []
    for k in (kh, kw):
        span = dilation * (k - 1) + 1
        smallest = max(0, -((span - 2 * pad - 1) // stride))  # outputs so that size >= 1
        out = draw(st.integers(smallest + 1, smallest + 3))
        size.append((out - 1) * stride + span - 2 * pad)
    seed = draw(st.integers(0, 2**32 - 1))
    conv_param = {"stride": stride, "pad": pad, "dilation": dilation}
    return (n, c, *size), (f, c, kh, kw), conv_param, seed


@settings(max_examples=60, deadline=None)
@given(geometries())
def test_fast_matches_naive(problem):
    x_shape, w_shape, conv_param, seed = problem
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    out_naive, cache_naive = conv_forward_naive(x, w, b, conv_param)
    out_fast, cache_fast = conv_forward(x, w, b, conv_param)
    assert rel_error(out_fast, out_naive) < 1e-12
    dout = rng.standard_normal(out_naive.shape)
    for fast, naive in zip(conv_backward(dout, cache_fast),
                           conv_backward_naive(dout, cache_naive), strict=True):
        assert fast.shape == naive.shape
        assert rel_error(fast, naive) < 1e-12


def test_fast_matches_naive_on_stride_2_pad_0_non_square(rng):
    x = rng.standard_normal((2, 3, 7, 9))
    w = rng.standard_normal((2, 3, 3, 1))
    b = rng.standard_normal(2)
    param = {"stride": 2, "pad": 0}
    out_naive, cache_naive = conv_forward_naive(x, w, b, param)
    out_fast, cache_fast = conv_forward(x, w, b, param)
    assert out_fast.shape == (2, 2, 3, 5)
    assert rel_error(out_fast, out_naive) < 1e-12
    dout = rng.standard_normal(out_fast.shape)
    for fast, naive in zip(conv_backward(dout, cache_fast),
                           conv_backward_naive(dout, cache_naive), strict=True):
        assert rel_error(fast, naive) < 1e-12


# -- bad input ------------------------------------------------------------------------------

GOOD_X, GOOD_W, GOOD_B = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4)


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("args, error, message", [
    ((GOOD_X, GOOD_W, GOOD_B, {"stride": 2, "pad": 0}), None, None),
    ((GOOD_X, GOOD_W, GOOD_B, {"stride": 3, "pad": 0}), ValueError,
     "the output height (H - HH) / stride + 1 = (5 - 3) / 3 + 1 = 1.66667 is not an integer"),
    ((GOOD_X, np.zeros((4, 3, 3, 2)), GOOD_B, {"stride": 2, "pad": 1}), ValueError,
     "the output width (W + 2*pad - WW) / stride + 1 = (5 + 2*1 - 2) / 2 + 1 = 3.5 is not "
     "an integer"),
    ((GOOD_X, np.zeros((4, 3, 7, 3)), GOOD_B, {"stride": 1, "pad": 0}), ValueError,
     "the window is larger than the input: HH = 7 > H = 5"),
    ((GOOD_X, GOOD_W, GOOD_B, {"stride": 1, "pad": 0, "dilation": 3}), ValueError,
     "the window is larger than the input: dilation*(HH-1)+1 = 7 > H = 5"),
    ((GOOD_X, np.zeros((4, 2, 3, 3)), GOOD_B, {"stride": 1, "pad": 1}), ValueError,
     "w must have shape (F, C, HH, WW) with C=3 from x; got w.shape = (4, 2, 3, 3)"),
    ((GOOD_X, GOOD_W, np.zeros(3), {"stride": 1, "pad": 1}), ValueError,
     "b must have shape (F,) with F=4 from w; got b.shape = (3,)"),
    ((np.zeros((3, 5, 5)), GOOD_W, GOOD_B, {"stride": 1, "pad": 1}), ValueError,
     "x must be a 4-d array of shape (N, C, H, W); got x.shape = (3, 5, 5)"),
    ((GOOD_X.astype(bool), GOOD_W, GOOD_B, {"stride": 1, "pad": 1}), TypeError,
     "x must be a number array, float32 or float64 (integers and Python numbers are "
     "promoted as NumPy does); got bool array"),
    ((GOOD_X, None, GOOD_B, {"stride": 1, "pad": 1}), TypeError,
     "w must be a number array, float32 or float64 (integers and Python numbers are "
     "promoted as NumPy does); got NoneType"),
    ((GOOD_X, GOOD_W, GOOD_B, {"pad": 1}), ValueError,
     "conv_param must have the key 'stride'; got keys ['pad']"),
    ((GOOD_X, GOOD_W, GOOD_B, {"stride": 1}), ValueError,
     "conv_param must have the key 'pad'; got keys ['stride']"),
    ((GOOD_X, GOOD_W, GOOD_B, {"stride": 0, "pad": 1}), ValueError,
     "conv_param['stride'] must be >= 1; got 0"),
    ((GOOD_X, GOOD_W, GOOD_B, {"stride": -1, "pad": 1}), ValueError,
     "conv_param['stride'] must be >= 1; got -1"),
    ((GOOD_X, GOOD_W, GOOD_B, {"stride": 1, "pad": -1}), ValueError,
     "conv_param['pad'] must be >= 0; got -1"),
    ((GOOD_X, GOOD_W, GOOD_B, {"stride": 1.0, "pad": 1}), TypeError,
     "conv_param['stride'] must be an integer; got float"),
    ((GOOD_X, GOOD_W, GOOD_B, {"stride": 1, "pad": 1, "dilation": 0}), ValueError,
     "conv_param['dilation'] must be >= 1; got 0"),
    ((GOOD_X, GOOD_W, GOOD_B, [1, 1]), TypeError, "conv_param must be a dict; got list"),
    ((GOOD_X, GOOD_W, GOOD_B, {"stride": 1, "pad": 1, "dilaton": 2}), ValueError,
     "conv_param has unexpected key 'dilaton'; allowed keys are 'stride', 'pad', "
     "'dilation'"),
])
def test_bad_input(kind, args, error, message):
    forward, _ = PAIRS[kind]
    if error is None:
        forward(*args)
        return
    name = forward.__name__
    with pytest.raises(error, match=re.escape(f"{name}: {message}")):
        forward(*args)


@pytest.mark.parametrize("kind", PAIRS)
def test_backward_rejects_a_dout_of_the_wrong_shape(kind):
    forward, backward = PAIRS[kind]
    _, cache = forward(GOOD_X, GOOD_W, GOOD_B, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=re.escape(
            f"{backward.__name__}: dout must have the shape of the forward output "
            "(2, 4, 5, 5); got dout.shape = (2, 4, 3, 3)")):
        backward(np.zeros((2, 4, 3, 3)), cache)
